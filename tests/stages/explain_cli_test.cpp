// `lrpflow explain` as a script would call it: outputs against the Zennit reference, and every
// bad input ending in a clear message, the other inputs still explained.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <limits>

#include "fixture_support.h"
#include "lrpflow/files.h"
#include "lrpflow/image/image.h"
#include "lrpflow/npy.h"
#include "lrpflow/image/png.h"

namespace lrpflow {
namespace {
namespace fs = std::filesystem;
using lrp::testing::fixture_dir;
using lrp::testing::load_case;
using lrp::testing::relative_deviation;

struct Invocation {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

// `lrpflow [-q] <command> <arguments>`, its exit code and everything it printed.
Invocation lrpflow(const std::string& command_and_arguments, const fs::path& dir, bool quiet = true) {
  const fs::path log = dir / "lrpflow.log";
  const std::string command = std::string(LRPFLOW_BINARY) + (quiet ? " -q " : " ") + command_and_arguments + " > " +
                              log.string() + " 2>&1";
  const int status = std::system(command.c_str());
  Invocation result;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  auto text = read_file(log);
  result.output = text ? text.value() : "";
  return result;
}

Invocation explain(const std::string& arguments, const fs::path& dir, bool quiet = true) {
  return lrpflow("explain " + arguments, dir, quiet);
}

class ExplainCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("lrpflow_explain_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    const at::Tensor input = load_case("tiny_cnn").at("input");
    ASSERT_TRUE(write_npy(dir_ / "one.npy", input[0]).is_ok());        // C x H x W
    ASSERT_TRUE(write_npy(dir_ / "batch.npy", input).is_ok());         // N x C x H x W
    model_ = fixture_dir() + "/tiny_cnn/model_traced.pt";
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
  std::string model_;
};

TEST_F(ExplainCli, WritesRelevanceInTheInputsShapeAndAHeatmap) {
  const fs::path out = dir_ / "out";
  auto run = explain(model_ + " " + (dir_ / "one.npy").string() + " " + (dir_ / "batch.npy").string() +
                         " --rules epsilon_gamma_box --out " + out.string(),
                     dir_);
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const auto& ref = load_case("tiny_cnn");
  auto one = read_npy(out / "one.relevance.npy");
  ASSERT_TRUE(one) << one.status().message();
  EXPECT_EQ(one.value().sizes(), (at::IntArrayRef{3, 32, 32}));
  EXPECT_LE(relative_deviation(one.value(), ref.at("epsilon_gamma_box/input")[0]), 1e-4);
  auto batch = read_npy(out / "batch.relevance.npy");
  ASSERT_TRUE(batch);
  EXPECT_EQ(batch.value().sizes(), (at::IntArrayRef{4, 3, 32, 32}));
  EXPECT_LE(relative_deviation(batch.value(), ref.at("epsilon_gamma_box/input")), 1e-4);
  EXPECT_TRUE(fs::exists(out / "one.heatmap.png"));
  EXPECT_TRUE(fs::exists(out / "batch.heatmap.png"));
  EXPECT_TRUE(fs::exists(out / "manifest.json"));
}

TEST_F(ExplainCli, ParametersAndFixedTargets) {
  // epsilon with --param epsilon.epsilon=0.25 is the fixture's epsilon_0.25; --target 7 explains class 7.
  const fs::path out = dir_ / "out";
  auto run = explain(model_ + " " + (dir_ / "batch.npy").string() +
                         " --rules epsilon --param epsilon.epsilon=0.25 --out " + out.string(),
                     dir_);
  ASSERT_EQ(run.exit_code, 0) << run.output;
  auto batch = read_npy(out / "batch.relevance.npy");
  ASSERT_TRUE(batch);
  EXPECT_LE(relative_deviation(batch.value(), load_case("tiny_cnn").at("epsilon_0.25/input")), 1e-4);

  auto fixed = explain(model_ + " " + (dir_ / "one.npy").string() + " --rules zplus --target 3 --out " + (dir_ / "fixed").string(), dir_);
  ASSERT_EQ(fixed.exit_code, 0) << fixed.output;
  auto manifest = read_file(dir_ / "fixed" / "manifest.json");
  ASSERT_TRUE(manifest);
  EXPECT_EQ(nlohmann::json::parse(manifest.value())["items"][0]["metrics"]["lrp/target"], 3.0);
}

TEST_F(ExplainCli, UnknownRuleSetAndParameterListTheValidOnes) {
  auto rules = explain(model_ + " " + (dir_ / "one.npy").string() + " --rules epsilon_pluss_flat --out " + (dir_ / "a").string(), dir_);
  EXPECT_EQ(rules.exit_code, 2) << rules.output;
  EXPECT_NE(rules.output.find("epsilon_pluss_flat"), std::string::npos) << rules.output;
  EXPECT_NE(rules.output.find("epsilon_plus_flat"), std::string::npos) << rules.output;
  auto param = explain(model_ + " " + (dir_ / "one.npy").string() + " --rules epsilon --param epsilon.nope=1 --out " + (dir_ / "b").string(), dir_);
  EXPECT_EQ(param.exit_code, 2) << param.output;
  EXPECT_NE(param.output.find("nope"), std::string::npos) << param.output;
  EXPECT_NE(param.output.find("epsilon"), std::string::npos) << param.output;
}

TEST_F(ExplainCli, MissingModelAndOutputThatIsAFile) {
  auto model = explain((dir_ / "no_such_model.pt").string() + " " + (dir_ / "one.npy").string() + " --rules epsilon --out " +
                           (dir_ / "a").string(),
                       dir_);
  EXPECT_EQ(model.exit_code, 2);
  EXPECT_NE(model.output.find("no_such_model.pt"), std::string::npos) << model.output;
  ASSERT_TRUE(write_file_atomic(dir_ / "file", "x").is_ok());
  auto out = explain(model_ + " " + (dir_ / "one.npy").string() + " --rules epsilon --out " + (dir_ / "file").string(), dir_);
  EXPECT_EQ(out.exit_code, 2);
  EXPECT_NE(out.output.find("is a file"), std::string::npos) << out.output;
}

TEST_F(ExplainCli, BadItemsFailAloneAndTheOthersGetTheirOutputs) {
  // A NaN input, a wrong channel count and a target out of range each fail their own item only.
  at::Tensor nan_input = load_case("tiny_cnn").at("input")[1].clone();
  nan_input[0][0][0] = std::numeric_limits<float>::quiet_NaN();
  ASSERT_TRUE(write_npy(dir_ / "nan.npy", nan_input).is_ok());
  ASSERT_TRUE(write_npy(dir_ / "gray.npy", at::zeros({1, 32, 32})).is_ok());
  const fs::path out = dir_ / "out";
  auto run = explain(model_ + " " + (dir_ / "one.npy").string() + " " + (dir_ / "nan.npy").string() + " " +
                         (dir_ / "gray.npy").string() + " --rules epsilon_plus_flat --out " + out.string(),
                     dir_);
  EXPECT_EQ(run.exit_code, 1) << run.output;
  EXPECT_TRUE(fs::exists(out / "one.relevance.npy"));
  EXPECT_FALSE(fs::exists(out / "nan.relevance.npy"));
  auto manifest = read_file(out / "manifest.json");
  ASSERT_TRUE(manifest);
  const auto items = nlohmann::json::parse(manifest.value())["items"];
  ASSERT_EQ(items.size(), 3u);
  for (const auto& item : items) {
    if (item["id"] == "one") {
      EXPECT_EQ(item["status"], "ok");
    } else {
      EXPECT_EQ(item["status"], "error") << item.dump();
      const std::string message = item["error"]["message"];
      EXPECT_NE(message.find(item["id"] == "nan" ? "NaN" : "3 channels"), std::string::npos) << message;
    }
  }
  auto target = explain(model_ + " " + (dir_ / "one.npy").string() + " --rules epsilon --target 10 --out " + (dir_ / "t").string(), dir_);
  EXPECT_EQ(target.exit_code, 1) << target.output;
  EXPECT_NE(target.output.find("out of range"), std::string::npos) << target.output;
}

TEST_F(ExplainCli, ZBoxBoundsComeFromTheSidecarAndEveryOriginIsPrinted) {
  // The model next to a sidecar with per-channel ZBox bounds: epsilon_gamma_box without --param
  // must give exactly what the explicit --param bounds give, and not the rule set's -3/3.
  const fs::path model = dir_ / "model.pt";
  fs::copy_file(model_, model);
  ASSERT_TRUE(write_file_atomic(dir_ / "model.yaml",
                                "input_shape: [3, 32, 32]\nzbox:\n  low: [-1.5, -2.0, -0.5]\n  high: [2.5, 1.0, 3.0]\n"
                                "classes: [a, b, c, d, e, f, g, h, i, j]\n")
                  .is_ok());
  const std::string input = (dir_ / "one.npy").string();
  auto sidecar = explain(model.string() + " " + input + " --rules epsilon_gamma_box --out " + (dir_ / "sidecar").string(), dir_,
                         /*quiet=*/false);
  ASSERT_EQ(sidecar.exit_code, 0) << sidecar.output;
  EXPECT_NE(sidecar.output.find("zbox bounds: sidecar " + (dir_ / "model.yaml").string() +
                                " (low [-1.5, -2.0, -0.5], high [2.5, 1.0, 3.0])"),
            std::string::npos)
      << sidecar.output;
  EXPECT_NE(sidecar.output.find("class names: sidecar"), std::string::npos) << sidecar.output;
  EXPECT_NE(sidecar.output.find("input_shape: sidecar"), std::string::npos) << sidecar.output;
  EXPECT_NE(sidecar.output.find("mean: not set"), std::string::npos) << sidecar.output;
  EXPECT_NE(sidecar.output.find("color: from input_shape's channels: rgb"), std::string::npos) << sidecar.output;

  auto explicit_bounds = explain(model_ + " " + input + " --rules epsilon_gamma_box --param 'zbox.low=[-1.5, -2.0, -0.5]'" +
                                     " --param 'zbox.high=[2.5, 1.0, 3.0]' --out " + (dir_ / "explicit").string(),
                                 dir_, /*quiet=*/false);
  ASSERT_EQ(explicit_bounds.exit_code, 0) << explicit_bounds.output;
  EXPECT_NE(explicit_bounds.output.find("zbox bounds: --param"), std::string::npos) << explicit_bounds.output;
  auto defaults = explain(model_ + " " + input + " --rules epsilon_gamma_box --out " + (dir_ / "defaults").string(), dir_,
                          /*quiet=*/false);
  ASSERT_EQ(defaults.exit_code, 0) << defaults.output;
  EXPECT_NE(defaults.output.find("zbox bounds: rule set"), std::string::npos) << defaults.output;
  EXPECT_NE(defaults.output.find("low -3.0, high 3.0"), std::string::npos) << defaults.output;

  auto from_sidecar = read_npy(dir_ / "sidecar" / "one.relevance.npy");
  auto given = read_npy(dir_ / "explicit" / "one.relevance.npy");
  auto default_bounds = read_npy(dir_ / "defaults" / "one.relevance.npy");
  ASSERT_TRUE(from_sidecar && given && default_bounds);
  EXPECT_TRUE(at::equal(from_sidecar.value(), given.value()));
  EXPECT_FALSE(at::allclose(from_sidecar.value(), default_bounds.value()));
}

TEST_F(ExplainCli, ASidecarThatIsNotAMapIsIgnoredWithAWarning) {
  // A scalar document used to make the sidecar lookup throw YAML::BadSubscript out of explain
  // (found by tests/fuzz/sidecar_fuzz.cpp): the sidecar is advisory, so it is skipped by name.
  const fs::path model = dir_ / "model.pt";
  fs::copy_file(model_, model);
  const std::string input = (dir_ / "one.npy").string();
  int run_number = 0;
  for (const char* text : {"just a scalar\n", "- 1\n- [2, 3]\n", "zbox: {low: {a: 1}, high: [[1]]}\nmean: [x]\n"}) {
    ASSERT_TRUE(write_file_atomic(dir_ / "model.yaml", text).is_ok());
    const fs::path out = dir_ / ("out" + std::to_string(run_number++));
    auto run = explain(model.string() + " " + input + " --rules epsilon_gamma_box --out " + out.string(), dir_,
                       /*quiet=*/false);
    EXPECT_EQ(run.exit_code, 0) << text << run.output;
    EXPECT_NE(run.output.find((dir_ / "model.yaml").string() + ": "), std::string::npos) << text << run.output;
    EXPECT_NE(run.output.find("ignored"), std::string::npos) << text << run.output;
    EXPECT_TRUE(fs::exists(out / "one.relevance.npy")) << text << run.output;
  }
}

TEST_F(ExplainCli, ImagesAndTensorsInOneCallEachFailingAlone) {
  // Two PNGs, a good .npy, a truncated .npy and a PNG that is not an image: the three good inputs
  // are explained (images through the image loader, tensors as they are), the two bad fail alone.
  cv::Mat image(32, 32, CV_8UC3, cv::Scalar(40, 90, 200));
  ASSERT_TRUE(write_png_atomic(dir_ / "red.png", image).is_ok());
  ASSERT_TRUE(write_png_atomic(dir_ / "wide.png", cv::Mat(20, 48, CV_8UC3, cv::Scalar(200, 10, 10))).is_ok());
  auto bytes = read_file(dir_ / "one.npy");
  ASSERT_TRUE(bytes);
  ASSERT_TRUE(write_file_atomic(dir_ / "broken.npy", bytes.value().substr(0, bytes.value().size() / 2)).is_ok());
  ASSERT_TRUE(write_file_atomic(dir_ / "fake.png", "not a png").is_ok());
  const fs::path out = dir_ / "out";
  std::string inputs;
  for (const char* name : {"red.png", "wide.png", "one.npy", "broken.npy", "fake.png"}) inputs += " " + (dir_ / name).string();
  auto run = explain(model_ + inputs + " --input-shape 3,32,32 --size 32 --crop 32 --rules epsilon_plus_flat --out " + out.string(), dir_);
  EXPECT_EQ(run.exit_code, 1) << run.output;
  auto manifest = read_file(out / "manifest.json");
  ASSERT_TRUE(manifest) << run.output;
  const auto items = nlohmann::json::parse(manifest.value())["items"];
  ASSERT_EQ(items.size(), 5u) << items.dump();
  for (const auto& item : items) {
    const std::string id = item["id"];
    if (id == "broken" || id == "fake") {
      EXPECT_EQ(item["status"], "error") << item.dump();
      EXPECT_NE(item["error"]["message"].get<std::string>().find(id), std::string::npos) << item.dump();
    } else {
      EXPECT_EQ(item["status"], "ok") << item.dump();
    }
  }
  // Images: relevance of the model's 1x3x32x32 input and what the model saw (wide.png resized to
  // 76x32 and cropped to 32x32); the tensor: relevance in the file's own shape, no model input.
  auto red = read_npy(out / "red.relevance.npy");
  ASSERT_TRUE(red);
  EXPECT_EQ(red.value().sizes(), (at::IntArrayRef{1, 3, 32, 32}));
  auto wide_view = decode_image_file(out / "wide.model_input.png");
  ASSERT_TRUE(wide_view) << wide_view.status().message();
  EXPECT_EQ(wide_view.value().size(), cv::Size(32, 32));
  auto one = read_npy(out / "one.relevance.npy");
  ASSERT_TRUE(one);
  EXPECT_EQ(one.value().sizes(), (at::IntArrayRef{3, 32, 32}));
  EXPECT_FALSE(fs::exists(out / "one.model_input.png"));
  EXPECT_TRUE(fs::exists(out / "one.heatmap.png"));
}

TEST(InspectCosts, ThePerNeuronOptionsSayWhatTheyCost) {
  // `lrpflow inspect` shows each option's help: the two options that run LRP once per selected
  // neuron say so there.
  for (const std::string type : {"heatmap", "critical_paths"}) {
    const std::string command = std::string(LRPFLOW_BINARY) + " inspect " + type;
    std::string output;
    FILE* pipe = ::popen(command.c_str(), "r");
    ASSERT_NE(pipe, nullptr);
    char buffer[4096];
    for (size_t n; (n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0;) output.append(buffer, n);
    EXPECT_EQ(::pclose(pipe), 0) << output;
    const std::string option = type == "heatmap" ? "  neurons " : "  input_edges ";
    const auto line = output.find(option);
    ASSERT_NE(line, std::string::npos) << output;
    const std::string text = output.substr(line, output.find('\n', line) - line);
    EXPECT_NE(text.find("COST: one LRP pass"), std::string::npos) << text;
    EXPECT_NE(text.find("neuron"), std::string::npos) << text;
  }
}

// validate opens the resources as run does: a missing model file and a rule set name that does
// not exist are both found, each at its own line, in one pass, without any data.
TEST_F(ExplainCli, ValidateOpensResourcesAndReportsEveryFailureWithItsLine) {
  const std::string pipeline_head =
      "version: 1\n"
      "resources:\n"
      "  missing_model:\n"                                                        // line 3
      "    type: model\n"
      "    options: {path: no_such_model.pt, input_shape: [1, 28, 28]}\n"
      "  model:\n"                                                                // line 6
      "    type: model\n"
      "    options: {path: " + model_ + "}\n"
      "  rules:\n"                                                                // line 9
      "    type: ruleset\n";
  const std::string pipeline_tail =
      "stages:\n"
      "  - id: load\n"
      "    type: npy_loader\n"
      "    options: {path: one.npy}\n"
      "  - id: forward\n"
      "    type: forward\n"
      "  - id: lrp\n"
      "    type: lrp\n"
      "output:\n"
      "  dir: out\n";
  ASSERT_TRUE(write_file_atomic(dir_ / "bad.yaml", pipeline_head + "    options: {model: model, name: no_such_rules}\n" +
                                                        pipeline_tail).is_ok());
  const Invocation bad = lrpflow("validate " + (dir_ / "bad.yaml").string(), dir_);
  EXPECT_EQ(bad.exit_code, 1) << bad.output;
  EXPECT_NE(bad.output.find("bad.yaml:3:"), std::string::npos) << bad.output;
  EXPECT_NE(bad.output.find("resource 'missing_model' (model)"), std::string::npos) << bad.output;
  EXPECT_NE(bad.output.find("no_such_model.pt"), std::string::npos) << bad.output;
  EXPECT_NE(bad.output.find("bad.yaml:9:"), std::string::npos) << bad.output;
  EXPECT_NE(bad.output.find("resource 'rules' (ruleset)"), std::string::npos) << bad.output;
  EXPECT_NE(bad.output.find("no_such_rules"), std::string::npos) << bad.output;
  EXPECT_EQ(bad.output.find(": ok"), std::string::npos) << bad.output;
  EXPECT_FALSE(fs::exists(dir_ / "out")) << "validate must not create the output folder";

  // A rule set that names no declared model, or a resource of another type, is refused when the
  // file is read, at the option, before anything is opened.
  ASSERT_TRUE(write_file_atomic(dir_ / "names.yaml", pipeline_head + "    options: {model: modle, name: epsilon}\n" +
                                                          pipeline_tail).is_ok());
  const Invocation names = lrpflow("validate " + (dir_ / "names.yaml").string(), dir_);
  EXPECT_EQ(names.exit_code, 1) << names.output;
  EXPECT_NE(names.output.find("names.yaml:11:22: error: resource 'rules': option 'model' names resource 'modle', which is "
                              "not declared before it"),
            std::string::npos)
      << names.output;
  std::string typed = pipeline_head + "    options: {model: rules, name: epsilon}\n" + pipeline_tail;
  ASSERT_TRUE(write_file_atomic(dir_ / "typed.yaml", typed).is_ok());
  const Invocation self = lrpflow("validate " + (dir_ / "typed.yaml").string(), dir_);
  EXPECT_EQ(self.exit_code, 1) << self.output;
  EXPECT_NE(self.output.find("option 'model' names resource 'rules', which is not declared before it"), std::string::npos)
      << self.output;

  // The same pipeline with both resources fixed is ok; nothing is run.
  std::string good = pipeline_head + "    options: {model: model, name: epsilon}\n" + pipeline_tail;
  good.replace(good.find("no_such_model.pt, input_shape: [1, 28, 28]"), std::string("no_such_model.pt, input_shape: [1, 28, 28]").size(),
               model_);
  ASSERT_TRUE(write_file_atomic(dir_ / "good.yaml", good).is_ok());
  const Invocation ok = lrpflow("validate " + (dir_ / "good.yaml").string(), dir_);
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
  EXPECT_NE(ok.output.find("good.yaml: ok"), std::string::npos) << ok.output;
  EXPECT_FALSE(fs::exists(dir_ / "out"));
}

}  // namespace
}  // namespace lrpflow
