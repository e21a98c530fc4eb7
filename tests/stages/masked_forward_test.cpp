// The path-restricted forward pass on a model where zeroing a neuron provably keeps or changes the output.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "fixture_support.h"
#include "lrpflow/lrp/model_import.h"
#include "lrpflow/selection/fidelity.h"
#include "lrpflow/selection/neurons.h"
#include "lrpflow/selection/output_comparison.h"

namespace lrpflow::selection {
namespace {

using lrp::Layer;
using lrp::LayerKind;

// conv (1 -> 2 channels, 1x1, weights 1 and 1) -> ReLU -> flatten -> linear W = [[1, 0], [2, 0]], b = [0, 1].
// Channel 1 has zero weight in the linear layer, so silencing it cannot change the output.
std::shared_ptr<lrp::Model> two_neuron_model() {
  Layer conv;
  conv.name = "conv";
  conv.kind = LayerKind::Conv2d;
  conv.inputs = {lrp::kModelInput};
  conv.weight = at::ones({2, 1, 1, 1});
  conv.bias = at::zeros({2});
  conv.stride = {1, 1};
  conv.padding = {0, 0};
  Layer relu;
  relu.name = "relu";
  relu.kind = LayerKind::ReLU;
  relu.inputs = {0};
  Layer flatten;
  flatten.name = "flatten";
  flatten.kind = LayerKind::Flatten;
  flatten.inputs = {1};
  Layer fc;
  fc.name = "fc";
  fc.kind = LayerKind::Linear;
  fc.inputs = {2};
  fc.weight = at::tensor({1.f, 0.f, 2.f, 0.f}).reshape({2, 2});
  fc.bias = at::tensor({0.f, 1.f});
  auto model = lrp::Model::create({conv, relu, flatten, fc}, {1, 1, 1}, "test");
  EXPECT_TRUE(model) << model.status().message();
  return model.value();
}

TEST(MaskedForward, SilencingAnUnusedNeuronKeepsTheOutput) {
  auto model = two_neuron_model();
  auto acts = model->forward(at::full({1, 1, 1, 1}, 3.f));
  ASSERT_TRUE(acts);
  // Full output: features [3, 3] -> logits [3, 2*3 + 1] = [3, 7].
  EXPECT_TRUE(at::equal(acts.value().logits, at::tensor({3.f, 7.f}).reshape({1, 2})));
  auto keep_0 = forward_keeping(*model, acts.value(), {{"conv", {0}}});
  ASSERT_TRUE(keep_0) << keep_0.status().message();
  EXPECT_TRUE(at::equal(keep_0.value(), acts.value().logits));
}

TEST(MaskedForward, SilencingAUsedNeuronChangesTheOutput) {
  auto model = two_neuron_model();
  auto acts = model->forward(at::full({1, 1, 1, 1}, 3.f));
  ASSERT_TRUE(acts);
  // Keeping only channel 1: features [0, 3] -> logits [0, 1].
  auto keep_1 = forward_keeping(*model, acts.value(), {{"conv", {1}}});
  ASSERT_TRUE(keep_1);
  EXPECT_TRUE(at::equal(keep_1.value(), at::tensor({0.f, 1.f}).reshape({1, 2})));
  // MSE on logits: ((3-0)^2 + (7-1)^2) / 2 = 22.5; SMAPE: 100/2 * (3/1.5 + 6/4) = 175.
  const std::vector<double> full{3, 7}, restricted{0, 1};
  EXPECT_DOUBLE_EQ(mean_squared_error(full, restricted), 22.5);
  EXPECT_DOUBLE_EQ(smape(full, restricted), 175.0);
  // Nothing kept at all: every feature is zero and only the bias is left.
  auto none = forward_keeping(*model, acts.value(), {{"conv", {}}});
  ASSERT_TRUE(none);
  EXPECT_TRUE(at::equal(none.value(), at::tensor({0.f, 1.f}).reshape({1, 2})));
}

TEST(MaskedForward, NeuronSumsAndBadNames) {
  auto model = two_neuron_model();
  auto acts = model->forward(at::full({1, 1, 1, 1}, 3.f));
  ASSERT_TRUE(acts);
  auto a = neuron_activations(*model, acts.value(), "conv", 0);
  ASSERT_TRUE(a);
  EXPECT_EQ(a.value(), (std::vector<double>{3, 3}));  // the ReLU's output: the feature map
  EXPECT_EQ(default_selection_layers(*model), std::vector<std::string>{"conv"});  // not the output layer
  EXPECT_FALSE(forward_keeping(*model, acts.value(), {{"nope", {0}}}));
  EXPECT_FALSE(forward_keeping(*model, acts.value(), {{"conv", {2}}}));
  EXPECT_FALSE(check_selection_layers(*model, {"relu"}));
  EXPECT_TRUE(check_selection_layers(*model, {"conv", "fc"}));
}

// When no neuron is dropped, the restricted forward pass is the full one bit for bit, so every
// fidelity metric is exactly 0: checked per Conv2d/Linear layer (all its neurons kept, k = the
// layer's size) and for all of them at once, on every sample of the batch.
void expect_keeping_everything_is_exact(const lrp::Model& model, const at::Tensor& input) {
  auto acts = model.forward(input);
  ASSERT_TRUE(acts) << acts.status().message();
  std::map<std::string, std::vector<std::int64_t>> every_layer;
  for (const lrp::Layer& layer : model.layers()) {
    if (layer.kind != LayerKind::Conv2d && layer.kind != LayerKind::Linear) continue;
    std::vector<std::int64_t> all(static_cast<size_t>(neuron_count(model, layer.name)));
    for (size_t j = 0; j < all.size(); ++j) all[j] = static_cast<std::int64_t>(j);
    every_layer[layer.name] = all;
    auto logits = forward_keeping(model, acts.value(), {{layer.name, all}});
    ASSERT_TRUE(logits) << layer.name << ": " << logits.status().message();
    EXPECT_TRUE(at::equal(logits.value(), acts.value().logits)) << model.source() << ", layer " << layer.name;
  }
  ASSERT_GE(every_layer.size(), 3u) << model.source();
  auto logits = forward_keeping(model, acts.value(), every_layer);
  ASSERT_TRUE(logits) << logits.status().message();
  EXPECT_TRUE(at::equal(logits.value(), acts.value().logits)) << model.source() << ", all layers";
  for (const char* on : {"probabilities", "logits"}) {
    for (const char* classes : {"mass", "all"}) {
      for (std::int64_t sample = 0; sample < input.size(0); ++sample) {
        auto comparison = OutputComparison::from_options(
            Options({{"on", std::string(on)}, {"smape_classes", std::string(classes)}, {"smape_mass", 0.99}}), sample);
        ASSERT_TRUE(comparison) << comparison.status().message();
        auto full = comparison.value().reference(acts.value().logits);
        ASSERT_TRUE(full) << full.status().message();
        auto fidelity = comparison.value().compare(full.value(), logits.value());
        ASSERT_TRUE(fidelity) << fidelity.status().message();
        EXPECT_EQ(fidelity.value().mse, 0.0) << on << " " << classes;
        EXPECT_EQ(fidelity.value().smape, 0.0) << on << " " << classes;
        EXPECT_TRUE(fidelity.value().kept_class);
      }
    }
  }
}

TEST(MaskedForward, KeepingEveryNeuronIsExactOnTheQuickstartModel) {
  lrp::ModelLoadOptions options;
  options.input_shape = {1, 28, 28};
  auto model = lrp::load_model(LRPFLOW_MODELS_DIR "/fashion_mnist_vgg.pt", options);
  ASSERT_TRUE(model) << model.status().message();
  at::manual_seed(10);
  expect_keeping_everything_is_exact(*model.value(), at::randn({2, 1, 28, 28}));
}

TEST(MaskedForward, KeepingEveryNeuronIsExactOnAResidualModel) {
  auto model = lrp::testing::load_fixture_model("resnet_tiny", "scripted");
  ASSERT_TRUE(model) << model.status().message();
  expect_keeping_everything_is_exact(*model.value(), lrp::testing::load_case("resnet_tiny").at("input"));
}

}  // namespace
}  // namespace lrpflow::selection
