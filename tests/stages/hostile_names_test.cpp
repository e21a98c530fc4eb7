// Names lrpflow does not choose, run through `lrpflow run` (issue 12): a layer name that spells
// a way out of the output folder, input file names that sanitise alike, and a file name that is
// not UTF-8. Every file stays inside --out, every item gets files of its own, and the manifest,
// --resume and the report cope.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "../common/temp_dir.h"
#include "lrpflow/files.h"
#include "lrpflow/image/png.h"

namespace lrpflow {
namespace {
namespace fs = std::filesystem;

struct Invocation {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

Invocation lrpflow_run(const std::string& arguments, const fs::path& dir) {
  const fs::path log = dir / "run.log";
  const std::string command = std::string(LRPFLOW_BINARY) + " run " + arguments + " > '" + log.string() + "' 2>&1";
  const int status = std::system(command.c_str());
  Invocation result;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  auto text = read_file(log);
  result.output = text ? text.value() : "";
  return result;
}

// A small model whose only conv layer has the name `conv_name`.
std::string model_yaml(const std::string& conv_name) {
  return "name: hostile\ninput_shape: [3, 32, 32]\nseed: 1\nlayers:\n"
         "  - {name: " + nlohmann::json(conv_name).dump() + ", type: Conv2d, in: 3, out: 4, kernel: 3, padding: 1}\n"
         "  - {name: relu, type: ReLU}\n"
         "  - {name: flat, type: Flatten}\n"
         "  - {name: fc, type: Linear, in: 4096, out: 3}\n";
}

// `inputs`: the image loader's path (a folder, or a list file).
std::string pipeline_yaml(const std::string& conv_name, const std::string& extra_stages, const fs::path& out, bool report,
                          const std::string& inputs = "inputs") {
  return "version: 1\n"
         "resources:\n"
         "  model: {type: model, options: {path: model.yaml}}\n"
         "  rules: {type: ruleset, options: {model: model, name: epsilon}}\n"
         "stages:\n"
         "  - {id: load, type: image_loader, options: {path: " + inputs + ", size: 32, crop: 32}}\n"
         "  - {id: forward, type: forward}\n"
         "  - {id: lrp, type: lrp}\n"
         "  - {id: select, type: getoptimizer, options: {layers: [" + nlohmann::json(conv_name).dump() + "], k: 2}}\n" +
         extra_stages +
         "  - {id: save, type: npy_writer, options: {slot: relevance, suffix: .relevance.npy, kind: relevance}}\n"
         "runtime: {threads: 1}\n"
         "output: {dir: " + nlohmann::json(out.string()).dump() + ", report: " + (report ? "true" : "false") + "}\n";
}

// Distinct pictures, so that one item's file overwritten by another's would show.
void write_image(const fs::path& path, int shade) {
  fs::create_directories(path.parent_path());
  cv::Mat image(40, 40, CV_8UC3, cv::Scalar::all(20));
  image(cv::Rect(4 + shade, 6, 10, 12)).setTo(cv::Scalar(200, 40 + 50 * shade, 90));
  ASSERT_TRUE(write_png_atomic(path, image).is_ok()) << path;
}

nlohmann::json manifest_json(const fs::path& out) {
  auto text = read_file(out / "manifest.json");
  EXPECT_TRUE(text) << text.status().message();
  if (!text) return {};
  // Strict parsing: a manifest with bytes that are not UTF-8 is not JSON.
  return nlohmann::json::parse(text.value());
}

// Every regular file under `dir`, relative to it.
std::set<std::string> files_under(const fs::path& dir) {
  std::set<std::string> files;
  for (const auto& entry : fs::recursive_directory_iterator(dir))
    if (entry.is_regular_file()) files.insert(entry.path().lexically_relative(dir).generic_string());
  return files;
}

// The outputs of each item: id -> every path it recorded.
std::map<std::string, std::vector<std::string>> outputs_by_id(const nlohmann::json& manifest) {
  std::map<std::string, std::vector<std::string>> outputs;
  for (const auto& item : manifest.at("items"))
    for (const auto& [kind, paths] : item.at("outputs").items())
      for (const auto& path : paths) outputs[item.at("id").get<std::string>()].push_back(path.get<std::string>());
  return outputs;
}

// Every file under `dir` that was not in `before` lies in out/, or is the run's log.
void expect_nothing_new_outside_out(const fs::path& dir, const std::set<std::string>& before) {
  for (const std::string& file : files_under(dir))
    EXPECT_TRUE(file.rfind("out/", 0) == 0 || before.count(file) || file == "run.log") << "written outside --out: " << file;
}

// The run recorded one item, and it is ok.
void expect_one_ok_item(const nlohmann::json& manifest) {
  ASSERT_EQ(manifest.at("items").size(), 1u);
  ASSERT_EQ(manifest.at("items")[0].at("status"), "ok") << manifest.at("items")[0].dump(2);
}

// The heatmap and deconv stages drew both selected neurons (max_neurons: 2, top_k: 2).
void expect_two_pictures_of_each_kind(const nlohmann::json& item) {
  for (const char* kind : {"activation_heatmap", "neuron_heatmap", "deconv"}) {
    ASSERT_TRUE(item.at("outputs").contains(kind)) << kind;
    EXPECT_EQ(item.at("outputs").at(kind).size(), 2u) << kind;
  }
}

TEST(HostileNames, ALayerNameThatClimbsOutWritesOnlyInsideOut) {
  testing::TempDir dir;
  // From out/items/<id>/<id>.act.c/ four levels up is the test folder itself.
  const std::string layer = "c/../../../../escaped";
  write_image(dir / "inputs" / "pic.png", 0);
  ASSERT_TRUE(write_file_atomic(dir / "model.yaml", model_yaml(layer)).is_ok());
  ASSERT_TRUE(write_file_atomic(dir / "pipeline.yaml",
                                pipeline_yaml(layer,
                                              "  - {id: heatmap, type: heatmap, options: {activations: true, neurons: true, max_neurons: 2}}\n"
                                              "  - {id: deconv, type: deconv, options: {top_k: 2}}\n",
                                              dir / "out", false))
                  .is_ok());
  const std::set<std::string> before = files_under(dir.path());
  const Invocation run = lrpflow_run("-q '" + (dir / "pipeline.yaml").string() + "'", dir.path());
  EXPECT_EQ(run.exit_code, 0) << run.output;

  expect_nothing_new_outside_out(dir.path(), before);

  // And the layer's files are there, inside out/, one per neuron and kind.
  const nlohmann::json manifest = manifest_json(dir / "out");
  ASSERT_NO_FATAL_FAILURE(expect_one_ok_item(manifest));
  ASSERT_NO_FATAL_FAILURE(expect_two_pictures_of_each_kind(manifest.at("items")[0]));
  for (const auto& [id, paths] : outputs_by_id(manifest))
    for (const std::string& path : paths) {
      EXPECT_EQ(fs::path(path).lexically_normal().generic_string(), path);
      EXPECT_NE(path.rfind("..", 0), 0u) << path;
      EXPECT_TRUE(fs::is_regular_file(dir / "out" / path)) << path;
    }
}

TEST(HostileNames, ALayerNameWithMarkupStaysTextInTheFidelityPlots) {
  testing::TempDir dir;
  const std::string layer = "c</text><script>alert(1)</script><a href='javascript:x'>&amp;";
  write_image(dir / "inputs" / "pic.png", 0);
  ASSERT_TRUE(write_file_atomic(dir / "model.yaml", model_yaml(layer)).is_ok());
  ASSERT_TRUE(write_file_atomic(dir / "pipeline.yaml",
                                pipeline_yaml(layer, "  - {id: fidelity, type: fidelity, options: {sweep: true}}\n",
                                              dir / "out", false))
                  .is_ok());
  const Invocation run = lrpflow_run("-q '" + (dir / "pipeline.yaml").string() + "'", dir.path());
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const nlohmann::json manifest = manifest_json(dir / "out");
  ASSERT_NO_FATAL_FAILURE(expect_one_ok_item(manifest));
  const nlohmann::json& item = manifest.at("items")[0];
  ASSERT_TRUE(item.at("outputs").contains("fidelity_plot"));
  const std::string item_plot = item.at("outputs").at("fidelity_plot")[0].get<std::string>();
  for (const fs::path& plot : {dir / "out" / item_plot, dir / "out" / "fidelity_sweep.svg"}) {
    auto svg = read_file(plot);
    ASSERT_TRUE(svg) << svg.status().message();
    EXPECT_EQ(svg.value().find("<script"), std::string::npos) << plot;
    // Every element is one the plot draws: the name made none of its own.
    const std::set<std::string> drawn = {"?xml", "svg", "/svg", "rect", "line", "text", "/text", "polyline", "circle"};
    for (size_t at = svg.value().find('<'); at != std::string::npos; at = svg.value().find('<', at + 1)) {
      const size_t end = svg.value().find_first_of(" >", at);
      EXPECT_TRUE(drawn.count(svg.value().substr(at + 1, end - at - 1))) << plot << ": " << svg.value().substr(at, 40);
    }
    EXPECT_EQ(svg.value().find(layer), std::string::npos) << plot;
    // The legend holds the name as text, every markup character escaped.
    EXPECT_NE(svg.value().find("c&lt;/text&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;a href=&#39;javascript:x&#39;&gt;&amp;amp;"),
              std::string::npos)
        << plot;
  }
}

// A TorchScript submodule name can hold '/' and markup, never '.' (PyTorch's add_module refuses
// it) or '"' (LibTorch cannot read such a file back): tools/make_hostile_torchscript.py.
TEST(HostileNames, ATorchScriptSubmoduleNameWithASlashAndMarkupStaysInsideOutAndEscaped) {
  testing::TempDir dir;
  const std::string layer = "c/<evil>&x";
  const fs::path model = fs::path(LRPFLOW_HOSTILE_FIXTURE_DIR) / "slash_markup_traced.pt";
  ASSERT_TRUE(fs::is_regular_file(model)) << model << " is missing (tools/make_hostile_torchscript.py writes it)";
  write_image(dir / "inputs" / "pic.png", 0);
  std::string pipeline = pipeline_yaml(layer,
                                       "  - {id: heatmap, type: heatmap, options: {activations: true, neurons: true, max_neurons: 2}}\n"
                                       "  - {id: deconv, type: deconv, options: {top_k: 2}}\n"
                                       "  - {id: fidelity, type: fidelity, options: {sweep: true}}\n",
                                       dir / "out", true);
  const std::string yaml_model = "path: model.yaml";
  ASSERT_NE(pipeline.find(yaml_model), std::string::npos);
  pipeline.replace(pipeline.find(yaml_model), yaml_model.size(),
                   "path: " + nlohmann::json(model.string()).dump() + ", input_shape: [3, 32, 32]");
  ASSERT_TRUE(write_file_atomic(dir / "pipeline.yaml", pipeline).is_ok());
  const std::set<std::string> before = files_under(dir.path());
  const Invocation run = lrpflow_run("-q '" + (dir / "pipeline.yaml").string() + "'", dir.path());
  ASSERT_EQ(run.exit_code, 0) << run.output;

  expect_nothing_new_outside_out(dir.path(), before);
  const nlohmann::json manifest = manifest_json(dir / "out");
  ASSERT_NO_FATAL_FAILURE(expect_one_ok_item(manifest));
  ASSERT_NO_FATAL_FAILURE(expect_two_pictures_of_each_kind(manifest.at("items")[0]));
  // Every page and drawing holds the name as escaped text only.
  std::size_t markup_files = 0;
  for (const std::string& file : files_under(dir / "out")) {
    const std::string extension = fs::path(file).extension().string();
    if (extension != ".html" && extension != ".svg" && extension != ".dot") continue;
    ++markup_files;
    auto text = read_file(dir / "out" / file);
    ASSERT_TRUE(text) << text.status().message();
    EXPECT_EQ(text.value().find("<evil>"), std::string::npos) << file;
  }
  EXPECT_GE(markup_files, 3u);  // the run page, the item page, the fidelity plots
}

TEST(HostileNames, InputsThatSanitiseAlikeKeepTheirOwnFiles) {
  testing::TempDir dir;
  write_image(dir / "inputs" / "a" / "b.png", 0);
  write_image(dir / "inputs" / "a_b.png", 1);
  write_image(dir / "inputs" / "a:b.png", 2);
  // A list file: a folder is not searched recursively. Ids are relative to the common folder.
  ASSERT_TRUE(write_file_atomic(dir / "inputs.txt", "inputs/a/b.png\ninputs/a_b.png\ninputs/a:b.png\n").is_ok());
  ASSERT_TRUE(write_file_atomic(dir / "model.yaml", model_yaml("conv")).is_ok());
  ASSERT_TRUE(write_file_atomic(dir / "pipeline.yaml",
                                pipeline_yaml("conv", "  - {id: heatmap, type: heatmap, options: {write_npy: true}}\n", dir / "out", false,
                                              "inputs.txt"))
                  .is_ok());

  std::map<std::string, std::vector<std::string>> first;
  for (const char* out : {"out", "again"}) {
    const Invocation run = lrpflow_run("-q '" + (dir / "pipeline.yaml").string() + "' --out '" + (dir / out).string() + "'", dir.path());
    ASSERT_EQ(run.exit_code, 0) << run.output;
    const nlohmann::json manifest = manifest_json(dir / out);
    ASSERT_EQ(manifest.at("items").size(), 3u);
    for (const auto& item : manifest.at("items")) EXPECT_EQ(item.at("status"), "ok") << item.dump(2);
    const auto outputs = outputs_by_id(manifest);
    ASSERT_EQ(outputs.size(), 3u);
    EXPECT_TRUE(outputs.count("a/b") && outputs.count("a_b") && outputs.count("a:b"));
    // No file is claimed by two items, and each is there.
    std::map<std::string, std::string> owner;
    for (const auto& [id, paths] : outputs) {
      EXPECT_GE(paths.size(), 3u) << id;
      for (const std::string& path : paths) {
        auto [it, fresh] = owner.emplace(path, id);
        EXPECT_TRUE(fresh) << path << " belongs to '" << it->second << "' and '" << id << "'";
        EXPECT_TRUE(fs::is_regular_file(dir / out / path)) << path;
      }
    }
    // The relevance maps differ (the pictures do): nothing was overwritten.
    std::set<std::string> relevance;
    for (const auto& item : manifest.at("items")) {
      auto bytes = read_file(dir / out / item.at("outputs").at("relevance")[0].get<std::string>());
      ASSERT_TRUE(bytes);
      relevance.insert(bytes.value());
    }
    EXPECT_EQ(relevance.size(), 3u);
    // A second run names every file the same way.
    if (first.empty()) first = outputs;
    else EXPECT_EQ(outputs, first);
  }
}

TEST(HostileNames, AFileNameThatIsNotUtf8RunsResumesAndReports) {
  testing::TempDir dir;
  write_image(dir / "inputs" / "caf\xe9.png", 0);  // "café" in Latin-1
  write_image(dir / "inputs" / "plain.png", 1);
  ASSERT_TRUE(write_file_atomic(dir / "model.yaml", model_yaml("conv")).is_ok());
  ASSERT_TRUE(write_file_atomic(dir / "pipeline.yaml", pipeline_yaml("conv", "  - {id: heatmap, type: heatmap}\n", dir / "out", true)).is_ok());
  const std::string pipeline = "'" + (dir / "pipeline.yaml").string() + "'";

  const Invocation run = lrpflow_run("-q " + pipeline, dir.path());
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const nlohmann::json manifest = manifest_json(dir / "out");
  EXPECT_EQ(manifest.at("run").at("state"), "complete") << manifest.at("run").dump(2);
  ASSERT_EQ(manifest.at("items").size(), 2u);
  // The id keeps the byte, escaped (lossless: \xe9, not U+FFFD); the file is read all the same.
  const nlohmann::json& cafe = manifest.at("items")[0];
  EXPECT_EQ(cafe.at("id"), "caf\\xe9");
  EXPECT_EQ(cafe.at("status"), "ok") << cafe.dump(2);
  EXPECT_EQ(cafe.at("source").get<std::string>(), (dir / "inputs" / "caf\\xe9.png").string());
  for (const auto& [id, paths] : outputs_by_id(manifest))
    for (const std::string& path : paths) EXPECT_TRUE(fs::is_regular_file(dir / "out" / path)) << path;

  // --resume finds both items done, and does not run them again.
  const Invocation resumed = lrpflow_run(pipeline + " --resume", dir.path());
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("2 of 2 items already done"), std::string::npos) << resumed.output;
  EXPECT_EQ(manifest_json(dir / "out").at("items"), manifest.at("items"));

  // The report lists the item under its escaped id and has a page for it.
  auto index = read_file(dir / "out" / "report" / "index.html");
  ASSERT_TRUE(index) << index.status().message();
  EXPECT_NE(index.value().find("caf\\xe9"), std::string::npos);
  std::set<std::string> pages;
  for (const std::string& file : files_under(dir / "out" / "report" / "items"))
    if (fs::path(file).extension() == ".html") pages.insert(file);
  EXPECT_EQ(pages.size(), 2u);
}

}  // namespace
}  // namespace lrpflow
