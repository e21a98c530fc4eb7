// Model import: TorchScript (scripted and traced) and YAML descriptions.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <torch/script.h>

#include "builtin_rules.h"
#include "fixture_support.h"
#include "lrpflow/lrp/engine.h"
#include "lrpflow/lrp/model_import.h"
#include "lrpflow/lrp/model_yaml.h"

namespace lrpflow::lrp {
namespace {

using testing::config_dir;
using testing::load_case;
using testing::load_fixture_model;
using testing::relative_deviation;

class ImportedForward : public ::testing::TestWithParam<std::tuple<std::string, std::string>> {};

TEST_P(ImportedForward, ReproducesTheReferenceLogits) {
  const auto& [case_name, format] = GetParam();
  const auto& ref = load_case(case_name);
  auto model = load_fixture_model(case_name, format);
  ASSERT_TRUE(model) << model.status().message();
  auto acts = model.value()->forward(ref.at("input"));
  ASSERT_TRUE(acts) << acts.status().message();
  // Folded BatchNorms change the rounding slightly; everything else is the same arithmetic.
  EXPECT_LE(relative_deviation(acts.value().logits, ref.at("logits")), 1e-5);
  // Also the TorchScript module itself, on the same input.
  torch::jit::Module module = torch::jit::load(testing::fixture_dir() + "/" + case_name + "/model_" + format + ".pt");
  module.eval();
  at::Tensor direct = module.forward({ref.at("input")}).toTensor();
  EXPECT_LE(relative_deviation(acts.value().logits, direct), 1e-5);
}

INSTANTIATE_TEST_SUITE_P(AllCases, ImportedForward,
                         ::testing::Combine(::testing::Values("tiny_cnn", "vgg16_narrow", "resnet_tiny"),
                                            ::testing::Values("scripted", "traced")),
                         [](const auto& info) { return std::get<0>(info.param) + "_" + std::get<1>(info.param); });

TEST(ModelImport, LayerNamesAreModulePaths) {
  for (const std::string format : {"scripted", "traced"}) {
    auto tiny = load_fixture_model("tiny_cnn", format);
    ASSERT_TRUE(tiny) << tiny.status().message();
    EXPECT_EQ(tiny.value()->parametric_layer_names(), (std::vector<std::string>{"0", "2", "5", "9", "12"}));
    EXPECT_EQ(tiny.value()->layer(tiny.value()->find("4")).kind, LayerKind::MaxPool2d);
    EXPECT_EQ(tiny.value()->layer(tiny.value()->find("11")).kind, LayerKind::Dropout);
    EXPECT_EQ(tiny.value()->layer(tiny.value()->find("8")).kind, LayerKind::Flatten);

    auto vgg = load_fixture_model("vgg16_narrow", format);
    ASSERT_TRUE(vgg) << vgg.status().message();
    const int avgpool = vgg.value()->find("avgpool");
    ASSERT_GE(avgpool, 0);
    EXPECT_EQ(vgg.value()->layer(avgpool).output_size, (std::vector<int64_t>{7, 7}));
    EXPECT_EQ(vgg.value()->layer(avgpool).output_shape, (std::vector<int64_t>{64, 7, 7}));

    auto resnet = load_fixture_model("resnet_tiny", format);
    ASSERT_TRUE(resnet) << resnet.status().message();
    const Model& r = *resnet.value();
    EXPECT_EQ(r.parametric_layer_names(),
              (std::vector<std::string>{"conv1", "layer1.0.conv1", "layer1.0.conv2", "layer2.0.conv1", "layer2.0.conv2",
                                        "layer2.0.downsample.0", "fc"}));
    int adds = 0, batch_norms = 0;
    for (const auto& layer : r.layers()) {
      adds += layer.kind == LayerKind::Add;
      batch_norms += layer.kind == LayerKind::BatchNorm;
    }
    EXPECT_EQ(adds, 2);
    EXPECT_EQ(batch_norms, 0) << "every BatchNorm follows a conv and must be folded";
    // The shared ReLU module is called twice per block: unique names.
    EXPECT_GE(r.find("layer1.0.relu#1"), 0);
    // Block input feeds conv1 and the shortcut (identity or downsample): two consumers.
    const int block2_input = r.layer(r.find("layer2.0.conv1")).inputs[0];
    EXPECT_EQ(r.layer(r.find("layer2.0.downsample.0")).inputs[0], block2_input);
    EXPECT_EQ(r.consumers()[block2_input].size(), 2u);
  }
}

std::filesystem::path temp_path(const std::string& name) {
  return std::filesystem::temp_directory_path() / ("lrpflow_lrp_test_" + std::to_string(::getpid()) + "_" + name);
}

TEST(ModelImport, UnsupportedOpIsALoadErrorNamingOpModuleAndFile) {
  torch::jit::Module act("Act");
  act.define("def forward(self, x):\n    return torch.sigmoid(x)\n");
  torch::jit::Module net("Net");
  net.register_module("head", act);
  net.define("def forward(self, x):\n    return self.head.forward(torch.relu(x))\n");
  const auto path = temp_path("sigmoid.pt");
  net.save(path.string());
  auto model = load_torchscript_model(path);
  std::filesystem::remove(path);
  ASSERT_FALSE(model);
  const std::string message = model.status().message();
  EXPECT_NE(message.find("aten::sigmoid"), std::string::npos) << message;
  EXPECT_NE(message.find("'head'"), std::string::npos) << message;
  EXPECT_NE(message.find(path.string()), std::string::npos) << message;
  EXPECT_NE(message.find("supported ops"), std::string::npos) << message;
  EXPECT_NE(message.find("aten::conv2d"), std::string::npos) << message;
}

TEST(ModelImport, FunctionalOpsCatViewAddmmMatmul) {
  torch::jit::Module net("Functional");
  net.register_parameter("w", at::randn({5, 96}), false);
  net.register_parameter("b", at::randn({5}), false);
  net.register_parameter("w2", at::randn({5, 3}), false);
  net.register_parameter("b2", at::randn({3}), false);
  net.define(
      "def forward(self, x):\n"
      "    y = torch.avg_pool2d(x, [2, 2])\n"
      "    z = torch.max_pool2d(torch.relu(x), [2, 2])\n"
      "    c = torch.cat([y, z], 1)\n"
      "    h = c.view(c.size(0), -1)\n"
      "    h = torch.addmm(self.b, h, self.w.t())\n"
      "    return torch.matmul(torch.relu(h), self.w2) + self.b2\n");
  const auto path = temp_path("functional.pt");
  net.save(path.string());
  ModelLoadOptions options;
  options.input_shape = {3, 8, 8};
  auto model = load_torchscript_model(path, options);
  std::filesystem::remove(path);
  ASSERT_TRUE(model) << model.status().message();
  std::vector<LayerKind> kinds;
  for (const auto& layer : model.value()->layers()) kinds.push_back(layer.kind);
  EXPECT_EQ(kinds, (std::vector<LayerKind>{LayerKind::AvgPool2d, LayerKind::ReLU, LayerKind::MaxPool2d, LayerKind::Cat,
                                           LayerKind::Reshape, LayerKind::Linear, LayerKind::ReLU, LayerKind::Linear}));
  at::Tensor x = at::rand({2, 3, 8, 8});
  auto acts = model.value()->forward(x);
  ASSERT_TRUE(acts) << acts.status().message();
  at::Tensor direct = net.forward({x}).toTensor();
  EXPECT_LE(relative_deviation(acts.value().logits, direct), 1e-5);

  // Relevance through Cat (split), Reshape, AvgPool (norm) and the folded matmul bias: LRP-0 is
  // gradient x input here too.
  auto spec = find_ruleset(testing::config_dir() + "/rulesets/epsilon.yaml");
  ASSERT_TRUE(spec);
  ASSERT_TRUE(add_param_override(spec.value(), "epsilon.epsilon=0"));
  auto rules = RuleSet::bind(spec.value(), model.value(), builtin_rule_catalog());
  ASSERT_TRUE(rules) << rules.status().message();
  EXPECT_EQ(rules.value()->for_layer(3).rule, "pass");
  EXPECT_EQ(rules.value()->for_layer(0).rule, "norm");
  auto lrp = Engine(rules.value()).explain(x, {0, 2});
  ASSERT_TRUE(lrp) << lrp.status().message();
  auto one_hot = one_hot_targets(lrp.value().logits, {0, 2});
  ASSERT_TRUE(one_hot);
  auto grad = gradient(*model.value(), x, one_hot.value());
  ASSERT_TRUE(grad);
  EXPECT_LE(relative_deviation(lrp.value().input_relevance, grad.value().input_gradient * x), 1e-3);
}

TEST(ModelImport, TrainingModeDropoutAndTensorControlFlowAreRejected) {
  torch::jit::Module net("Branchy");
  net.define(
      "def forward(self, x):\n"
      "    if bool(x.sum() > 0):\n"
      "        return torch.relu(x)\n"
      "    return x\n");
  const auto path = temp_path("branchy.pt");
  net.save(path.string());
  auto model = load_torchscript_model(path);
  std::filesystem::remove(path);
  ASSERT_FALSE(model);
  EXPECT_NE(model.status().message().find(path.string()), std::string::npos) << model.status().message();
}

TEST(ModelImport, MissingOrUnknownFilesGiveErrorsNamingThePath) {
  auto missing = load_model("/nonexistent/model.pt");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.status().message().find("/nonexistent/model.pt"), std::string::npos);
  auto unknown = load_model("/tmp/model.onnx");
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.status().message().find("unknown model format"), std::string::npos);
  const auto garbage = temp_path("garbage.pt");
  std::ofstream(garbage) << "not a zip archive";
  auto bad = load_model(garbage);
  std::filesystem::remove(garbage);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.status().message().find(garbage.string()), std::string::npos);
}

// LibTorch's reader skips CRC checks: a flipped bit in a weight loads silently with another value.
// The importer checks every entry first and names the file and the entry.
TEST(ModelImport, CorruptOrTruncatedArchiveIsRefusedNamingTheFile) {
  const std::string original = testing::fixture_dir() + "/tiny_cnn/model_scripted.pt";
  std::ifstream in(original, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_FALSE(bytes.empty());
  // Find the first weight's bytes in the file (entries are stored uncompressed) and change one.
  torch::jit::Module module = torch::jit::load(original);
  const at::Tensor weight = (*module.parameters().begin()).contiguous();
  const std::string weight_bytes(static_cast<const char*>(weight.data_ptr()), 16);
  const size_t at = bytes.find(weight_bytes);
  ASSERT_NE(at, std::string::npos);
  std::string corrupt = bytes;
  corrupt[at + 3] = static_cast<char>(corrupt[at + 3] ^ 0x40);
  const auto corrupt_path = temp_path("corrupt.pt");
  std::ofstream(corrupt_path, std::ios::binary) << corrupt;
  // Without the check the corrupt file loads, with a changed weight.
  const at::Tensor changed = (*torch::jit::load(corrupt_path.string()).parameters().begin());
  EXPECT_FALSE(at::equal(changed, weight));

  auto refused = load_model(corrupt_path);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.status().message().find(corrupt_path.string() + ": corrupt archive entry"), std::string::npos)
      << refused.status().message();
  EXPECT_NE(refused.status().message().find("CRC"), std::string::npos) << refused.status().message();

  const auto truncated_path = temp_path("truncated.pt");
  std::ofstream(truncated_path, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  auto truncated = load_model(truncated_path);
  ASSERT_FALSE(truncated);
  EXPECT_NE(truncated.status().message().find(truncated_path.string()), std::string::npos);
  std::filesystem::remove(corrupt_path);
  std::filesystem::remove(truncated_path);

  // The intact file still loads.
  EXPECT_TRUE(load_model(original)) << load_model(original).status().message();
}

TEST(ModelYaml, TinyCnnDescriptionMatchesTheFixtureTopology) {
  auto model = load_model(config_dir() + "/models/tiny_cnn.yaml");
  ASSERT_TRUE(model) << model.status().message();
  auto fixture = load_fixture_model("tiny_cnn", "scripted");
  ASSERT_TRUE(fixture);
  ASSERT_EQ(model.value()->size(), fixture.value()->size());
  for (int i = 0; i < model.value()->size(); ++i) {
    const Layer& a = model.value()->layer(i);
    const Layer& b = fixture.value()->layer(i);
    EXPECT_EQ(a.name, b.name);
    EXPECT_EQ(a.kind, b.kind) << a.name;
    EXPECT_EQ(a.output_shape, b.output_shape) << a.name;
    if (a.weight.defined()) {
      EXPECT_EQ(a.weight.sizes(), b.weight.sizes()) << a.name;
    }
  }
}

TEST(ModelYaml, SeededWeightsAreDeterministicAndKaimingScaled) {
  ModelLoadOptions options;
  options.seed = 7;
  auto a = load_model(config_dir() + "/models/tiny_cnn.yaml", options);
  auto b = load_model(config_dir() + "/models/tiny_cnn.yaml", options);
  options.seed = 8;
  auto c = load_model(config_dir() + "/models/tiny_cnn.yaml", options);
  ASSERT_TRUE(a && b && c);
  const at::Tensor& w = a.value()->layer(a.value()->find("9")).weight;
  EXPECT_TRUE(at::equal(w, b.value()->layer(b.value()->find("9")).weight));
  EXPECT_FALSE(at::equal(w, c.value()->layer(c.value()->find("9")).weight));
  EXPECT_NEAR(w.std().item<double>(), std::sqrt(2.0 / 1024.0), 0.003);
}

TEST(ModelYaml, Vgg16DescriptionHasTorchvisionShapes) {
  auto model = load_model(config_dir() + "/models/vgg16.yaml");
  ASSERT_TRUE(model) << model.status().message();
  const Model& m = *model.value();
  EXPECT_EQ(m.parametric_layer_names().size(), 16u);
  EXPECT_EQ(m.layer(m.find("features.30")).output_shape, (std::vector<int64_t>{512, 7, 7}));
  EXPECT_EQ(m.layer(m.output_layer()).output_shape, (std::vector<int64_t>{1000}));
  EXPECT_EQ(m.parameter_count(), 138357544);  // torchvision's vgg16 parameter count
}

TEST(ModelYaml, ErrorsNameFileAndLine) {
  auto unknown_type = parse_yaml_model("input_shape: [3, 8, 8]\nlayers:\n  - {type: Conv2d, in: 3, out: 4, kernel: 3}\n  - {type: Softmax}\n",
                                       "bad.yaml", ".");
  ASSERT_FALSE(unknown_type);
  EXPECT_NE(unknown_type.status().message().find("bad.yaml:4"), std::string::npos) << unknown_type.status().message();
  EXPECT_NE(unknown_type.status().message().find("Softmax"), std::string::npos);

  auto bad_key = parse_yaml_model("layers:\n  - {type: Linear, in: 3, out: 4, kernal: 3}\n", "bad.yaml", ".");
  ASSERT_FALSE(bad_key);
  EXPECT_NE(bad_key.status().message().find("kernal"), std::string::npos) << bad_key.status().message();

  auto shape_mismatch = parse_yaml_model(
      "input_shape: [3, 8, 8]\nlayers:\n  - {type: Conv2d, in: 3, out: 4, kernel: 3}\n  - {type: Flatten}\n"
      "  - {type: Linear, in: 100, out: 2}\n",
      "mismatch.yaml", ".");
  ASSERT_FALSE(shape_mismatch);
  EXPECT_NE(shape_mismatch.status().message().find("mismatch.yaml"), std::string::npos);

  auto bad_input = parse_yaml_model("layers:\n  - {type: ReLU, inputs: [nowhere]}\n", "in.yaml", ".");
  ASSERT_FALSE(bad_input);
  EXPECT_NE(bad_input.status().message().find("nowhere"), std::string::npos);
}

TEST(ModelYaml, StandaloneBatchNormStaysAndFollowingOneIsFolded) {
  auto model = parse_yaml_model(
      "input_shape: [2, 4, 4]\nlayers:\n"
      "  - {name: conv, type: Conv2d, in: 2, out: 3, kernel: 3, padding: 1}\n"
      "  - {name: bn, type: BatchNorm2d, features: 3}\n"
      "  - {name: relu, type: ReLU}\n"
      "  - {name: bn2, type: BatchNorm2d, features: 3}\n"
      "  - {name: flat, type: Flatten}\n"
      "  - {name: fc, type: Linear, in: 48, out: 2}\n",
      "bn.yaml", ".");
  ASSERT_TRUE(model) << model.status().message();
  EXPECT_EQ(model.value()->find("bn"), -1);
  ASSERT_GE(model.value()->find("bn2"), 0);
  EXPECT_EQ(model.value()->layer(model.value()->find("bn2")).kind, LayerKind::BatchNorm);
}

TEST(Model, ForwardCanKeepOnlyListedLayers) {
  auto model = load_fixture_model("resnet_tiny", "traced");
  ASSERT_TRUE(model);
  const at::Tensor& input = load_case("resnet_tiny").at("input");
  auto all = model.value()->forward(input);
  auto some = model.value()->forward(input, {"layer1.0.conv2"});
  ASSERT_TRUE(all && some) << some.status().message();
  const Model& m = *model.value();
  for (int i = 0; i < m.size(); ++i) {
    const bool expected = m.layer(i).name == "layer1.0.conv2" || i == m.output_layer();
    EXPECT_EQ(some.value().outputs[i].defined(), expected) << m.layer(i).name;
  }
  EXPECT_TRUE(at::equal(some.value().outputs[m.find("layer1.0.conv2")], all.value().outputs[m.find("layer1.0.conv2")]));
  EXPECT_TRUE(at::equal(some.value().logits, all.value().logits));
  EXPECT_FALSE(model.value()->forward(input, {"nope"}));
}

TEST(Model, ForwardRejectsNonFiniteAndMisshapenInputs) {
  auto model = load_fixture_model("tiny_cnn", "traced");
  ASSERT_TRUE(model);
  at::Tensor x = at::zeros({1, 3, 32, 32});
  x[0][1][2][3] = std::numeric_limits<float>::quiet_NaN();
  auto nan = model.value()->forward(x);
  ASSERT_FALSE(nan);
  EXPECT_NE(nan.status().message().find("NaN"), std::string::npos);
  auto wrong = model.value()->forward(at::zeros({1, 3, 16, 16}));
  ASSERT_FALSE(wrong);
  EXPECT_NE(wrong.status().message().find("does not match"), std::string::npos) << wrong.status().message();
}

}  // namespace
}  // namespace lrpflow::lrp
