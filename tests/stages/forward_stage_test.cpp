// The forward stage alone (StageRunner): logits, probabilities and activations against the
// TorchScript module run by LibTorch itself, the prediction metrics and file, and its errors.
#include <gtest/gtest.h>

#include <torch/script.h>
#include <nlohmann/json.hpp>

#include <string>

#include "lrpflow/files.h"
#include "stage_test_support.h"

namespace lrpflow {
namespace {
using lrp::testing::fixture_dir;
using lrp::testing::load_case;
using lrp::testing::load_fixture_model;
using lrp::testing::relative_deviation;
using testing::open_error;
using testing::open_stage;
using testing::resources_for;
using testing::tiny_cnn;

torch::jit::Module scripted_tiny_cnn() {
  torch::jit::Module module = torch::jit::load(fixture_dir() + "/tiny_cnn/model_scripted.pt");
  module.eval();
  return module;
}

at::Tensor scripted_logits(const at::Tensor& input) {
  at::NoGradGuard no_grad;
  return scripted_tiny_cnn().forward({input}).toTensor();
}

TEST(ForwardStage, LogitsProbabilitiesAndActivationsAreTheModelsForwardPass) {
  const at::Tensor input = load_case("tiny_cnn").at("input").slice(0, 0, 1);
  testing::TempDir out;
  auto stage = open_stage("id: fwd\ntype: forward\n", resources_for(tiny_cnn()), out.path());
  ASSERT_TRUE(stage.status.is_ok()) << stage.status.message();
  Item item(0, "a", "a.npy");
  item.set("input", input);
  const Status status = stage->process(item);
  ASSERT_TRUE(status.is_ok()) << status.message();

  const at::Tensor expected = scripted_logits(input);
  const at::Tensor logits = item.tensor("logits").value();
  ASSERT_EQ(logits.sizes(), expected.sizes());
  EXPECT_LE(relative_deviation(logits, expected), 1e-5);
  EXPECT_TRUE(at::allclose(item.tensor("probabilities").value(), at::softmax(expected, 1), 1e-5, 1e-7));

  // Every layer's output: the first one is the module's own first Conv2d on the input.
  auto acts = lrp::get_activations(item);
  ASSERT_TRUE(acts) << acts.status().message();
  EXPECT_EQ(static_cast<int>(acts.value()->outputs.size()), tiny_cnn()->size());
  EXPECT_TRUE(acts.value()->logits.equal(logits));
  at::Tensor first_conv;
  for (const auto& child : scripted_tiny_cnn().named_children())
    if (child.name == "0") {
      torch::jit::Module conv = child.value;
      first_conv = conv.forward({input}).toTensor().detach();
    }
  ASSERT_TRUE(first_conv.defined());
  EXPECT_LE(relative_deviation(acts.value()->outputs[static_cast<size_t>(tiny_cnn()->find("0"))], first_conv), 1e-5);

  // Metrics and the prediction file: argmax, its probability and the top 5 of the softmax.
  const at::Tensor probabilities = at::softmax(expected, 1)[0];
  const auto [top_p, top_i] = probabilities.topk(5);
  EXPECT_EQ(item.metrics().at("predicted_class"), static_cast<double>(top_i[0].item<int64_t>()));
  EXPECT_NEAR(item.metrics().at("confidence"), top_p[0].item<double>(), 1e-6);
  EXPECT_EQ(item.metrics().count("target_class"), 0u);  // no label slot
  ASSERT_EQ(item.outputs().size(), 1u);
  EXPECT_EQ(item.outputs()[0].kind, "prediction");
  auto text = read_file(out.path() / item.outputs()[0].path);
  ASSERT_TRUE(text) << text.status().message();
  const auto doc = nlohmann::json::parse(text.value());
  EXPECT_EQ(doc.at("predicted").get<int64_t>(), top_i[0].item<int64_t>());
  ASSERT_EQ(doc.at("top5").size(), 5u);
  for (int64_t r = 0; r < 5; ++r) {
    EXPECT_EQ(doc.at("top5")[r].at("class").get<int64_t>(), top_i[r].item<int64_t>());
    EXPECT_NEAR(doc.at("top5")[r].at("probability").get<double>(), top_p[r].item<double>(), 1e-6);
  }
  EXPECT_FALSE(doc.contains("samples"));
}

TEST(ForwardStage, ABatchGetsPerSampleMetricsTrueClassesAndLabels) {
  const at::Tensor input = load_case("tiny_cnn").at("input").slice(0, 0, 2);
  const at::Tensor expected = scripted_logits(input);
  const int64_t classes = expected.size(1);
  std::string labels;
  for (int64_t c = 0; c < classes; ++c) labels += (c ? ", " : "") + std::string("class_") + std::to_string(c);
  testing::TempDir out;
  auto stage = open_stage("type: forward\noptions: {input: x, labels: [" + labels + "]}\n", resources_for(tiny_cnn()), out.path());
  ASSERT_TRUE(stage.status.is_ok()) << stage.status.message();
  ASSERT_EQ(stage->slots().reads.size(), 1u);
  EXPECT_EQ(stage->slots().reads[0].name, "x");
  Item item(0, "b", "b.npy");
  item.set("x", input);
  const at::Tensor truth = at::tensor({classes - 1, int64_t{0}}, at::kLong);
  item.set("label", truth);
  const Status status = stage->process(item);
  ASSERT_TRUE(status.is_ok()) << status.message();

  auto text = read_file(out.path() / item.outputs().at(0).path);
  ASSERT_TRUE(text) << text.status().message();
  const auto doc = nlohmann::json::parse(text.value());
  ASSERT_EQ(doc.at("samples").size(), 2u);
  for (int64_t b = 0; b < 2; ++b) {
    const int64_t predicted = expected[b].argmax().item<int64_t>();
    const std::string suffix = "/" + std::to_string(b);
    EXPECT_EQ(item.metrics().at("predicted_class" + suffix), static_cast<double>(predicted));
    EXPECT_EQ(item.metrics().at("target_class" + suffix), static_cast<double>(truth[b].item<int64_t>()));
    EXPECT_NEAR(item.metrics().at("confidence" + suffix), at::softmax(expected[b], 0).max().item<double>(), 1e-6);
    const auto& sample = doc.at("samples")[b];
    EXPECT_EQ(sample.at("predicted").get<int64_t>(), predicted);
    EXPECT_EQ(sample.at("label").get<std::string>(), "class_" + std::to_string(predicted));
    EXPECT_EQ(sample.at("target_label").get<std::string>(), "class_" + std::to_string(truth[b].item<int64_t>()));
  }
  EXPECT_EQ(item.metrics().count("predicted_class"), 0u);
}

TEST(ForwardStage, WithoutThePredictionFileItWritesNothing) {
  // No output folder: a stage that wrote anything would fail.
  auto stage = open_stage("type: forward\noptions: {write_prediction: false}\n", resources_for(tiny_cnn()));
  ASSERT_TRUE(stage.status.is_ok()) << stage.status.message();
  Item item(0, "a", "a.npy");
  item.set("input", load_case("tiny_cnn").at("input").slice(0, 0, 1));
  const Status status = stage->process(item);
  ASSERT_TRUE(status.is_ok()) << status.message();
  EXPECT_TRUE(item.outputs().empty());
  EXPECT_TRUE(item.has("logits"));
}

TEST(ForwardStage, ErrorsNameTheSlotTheResourceAndTheOption) {
  auto stage = open_stage("id: fwd\ntype: forward\noptions: {write_prediction: false}\n", resources_for(tiny_cnn()));
  ASSERT_TRUE(stage.status.is_ok()) << stage.status.message();
  Item empty(0, "a", "a.npy");
  EXPECT_FALSE(stage->process(empty).is_ok());
  ASSERT_TRUE(empty.failed());
  EXPECT_EQ(empty.error()->stage, "fwd");
  EXPECT_NE(empty.error()->message.find("slot 'input' is empty"), std::string::npos) << empty.error()->message;

  Item wrong(1, "b", "b.npy");
  wrong.set("input", at::zeros({1, 3, 7, 7}));
  EXPECT_FALSE(stage->process(wrong).is_ok());
  ASSERT_TRUE(wrong.failed());
  EXPECT_NE(wrong.error()->message.find("input of shape [1, 3, 7, 7]"), std::string::npos) << wrong.error()->message;

  EXPECT_NE(open_error("type: forward\noptions: {model: net}\n", resources_for(tiny_cnn())).find("no resource named 'net'"),
            std::string::npos);
  const std::string bad_bool = open_error("type: forward\noptions: {write_prediction: maybe}\n", resources_for(tiny_cnn()));
  EXPECT_NE(bad_bool.find("write_prediction"), std::string::npos) << bad_bool;
  const std::string unknown = open_error("type: forward\noptions: {modle: model}\n", resources_for(tiny_cnn()));
  EXPECT_NE(unknown.find("unknown option 'modle' (did you mean 'model'?)"), std::string::npos) << unknown;
  const std::string missing_labels = open_error("type: forward\noptions: {labels_file: /nonexistent/labels.txt}\n",
                                                resources_for(tiny_cnn()));
  EXPECT_NE(missing_labels.find("/nonexistent/labels.txt"), std::string::npos) << missing_labels;
}

}  // namespace
}  // namespace lrpflow
