// The lrp stage alone (StageRunner): on a ReLU network with max-pooling, LRP-epsilon with epsilon
// -> 0 is gradient x input, computed here with LibTorch's autograd on the TorchScript module; the
// targets, the kept layers, the metrics and the errors.
#include <gtest/gtest.h>

#include <torch/script.h>

#include <string>
#include <vector>

#include "stage_test_support.h"

namespace lrpflow {
namespace {
using lrp::testing::fixture_dir;
using lrp::testing::load_case;
using lrp::testing::load_fixture_model;
using lrp::testing::relative_deviation;
using testing::epsilon_rules;
using testing::forward_pass;
using testing::open_error;
using testing::open_stage;
using testing::resources_for;
using testing::tiny_cnn;

std::shared_ptr<ResourceSet> tiny_cnn_resources(const std::string& epsilon = "1e-9") {
  return resources_for(tiny_cnn(), epsilon_rules(tiny_cnn(), epsilon));
}

// Logits of the TorchScript module, and input x d(logit[b, targets[b]])/d(input) per sample.
struct Autograd {
  at::Tensor logits;
  at::Tensor gradient_x_input;
};
torch::jit::Module scripted_tiny_cnn() {
  torch::jit::Module module = torch::jit::load(fixture_dir() + "/tiny_cnn/model_scripted.pt");
  module.eval();
  return module;
}

at::Tensor scripted_logits(const at::Tensor& input) {
  at::NoGradGuard no_grad;
  return scripted_tiny_cnn().forward({input}).toTensor();
}

Autograd autograd(const at::Tensor& input, const std::vector<int64_t>& targets) {
  torch::jit::Module module = scripted_tiny_cnn();
  at::Tensor x = input.detach().clone().requires_grad_(true);
  at::Tensor logits = module.forward({x}).toTensor();
  at::Tensor chosen = logits.gather(1, at::tensor(targets, at::kLong).reshape({-1, 1})).sum();
  chosen.backward();
  return {logits.detach(), (x.grad() * input).detach()};
}

Item forwarded_item(const at::Tensor& input) {
  Item item(0, "a", "a.npy");
  testing::set_activations(item, forward_pass(*tiny_cnn(), input));
  return item;
}

TEST(LrpStage, EpsilonNearZeroIsGradientTimesInputOfTheArgmax) {
  const at::Tensor input = load_case("tiny_cnn").at("input").slice(0, 0, 2);
  auto stage = open_stage("id: lrp\ntype: lrp\n", tiny_cnn_resources());
  ASSERT_TRUE(stage.status.is_ok()) << stage.status.message();
  Item item = forwarded_item(input);
  const Status status = stage->process(item);
  ASSERT_TRUE(status.is_ok()) << status.message();

  const std::vector<int64_t> argmax = testing::to_longs(scripted_logits(input).argmax(1));
  const Autograd expected = autograd(input, argmax);
  const at::Tensor relevance = item.tensor("relevance").value();
  ASSERT_EQ(relevance.sizes(), input.sizes());
  EXPECT_LE(relative_deviation(relevance, expected.gradient_x_input), 1e-4);
  EXPECT_EQ(testing::to_longs(item.tensor("target").value()), argmax);

  // Metrics per sample: the target, its logit as the start relevance, the input relevance's sum.
  for (int64_t b = 0; b < 2; ++b) {
    const std::string suffix = "/" + std::to_string(b);
    const double logit = expected.logits[b][argmax[static_cast<size_t>(b)]].item<double>();
    const double total = expected.gradient_x_input[b].sum().item<double>();
    EXPECT_EQ(item.metrics().at("lrp/target" + suffix), static_cast<double>(argmax[static_cast<size_t>(b)]));
    EXPECT_NEAR(item.metrics().at("lrp/start_relevance" + suffix), logit, 1e-5 * std::abs(logit));
    EXPECT_NEAR(item.metrics().at("lrp/input_relevance" + suffix), total, 1e-4 * std::max(1.0, std::abs(total)));
    EXPECT_NEAR(item.metrics().at("lrp/conservation" + suffix), total / logit, 1e-3 * std::max(1.0, std::abs(total / logit)));
  }
  // Diagnostics: one conservation and near-zero count per Conv2d/Linear layer.
  for (const std::string& layer : tiny_cnn()->parametric_layer_names()) {
    EXPECT_EQ(item.metrics().count("lrp/" + layer + "/conservation"), 1u) << layer;
    EXPECT_EQ(item.metrics().count("lrp/" + layer + "/near_zero"), 1u) << layer;
  }
  // The explanation keeps every layer by default.
  auto explanation = lrp::get_explanation(item);
  ASSERT_TRUE(explanation) << explanation.status().message();
  for (const std::string& layer : tiny_cnn()->parametric_layer_names())
    EXPECT_EQ(explanation.value()->layer_output_relevance.count(layer), 1u) << layer;
  EXPECT_TRUE(explanation.value()->input_relevance.equal(relevance));
}

TEST(LrpStage, AClassIndexAndTopNChooseTheExplainedClasses) {
  const at::Tensor input = load_case("tiny_cnn").at("input").slice(0, 0, 1);
  auto fixed = open_stage("type: lrp\noptions: {target: \"1\", output: r, diagnostics: false}\n", tiny_cnn_resources());
  ASSERT_TRUE(fixed.status.is_ok()) << fixed.status.message();
  EXPECT_EQ(fixed->slots().writes.at(0).name, "r");
  Item item = forwarded_item(input);
  Status status = fixed->process(item);
  ASSERT_TRUE(status.is_ok()) << status.message();
  EXPECT_LE(relative_deviation(item.tensor("r").value(), autograd(input, {1}).gradient_x_input), 1e-4);
  EXPECT_FALSE(item.has("relevance"));
  EXPECT_EQ(item.metrics().count("lrp/0/conservation"), 0u);  // diagnostics: false

  // topN: the first class in the output slot, the others in <output>@top<rank>.
  auto top = open_stage("type: lrp\noptions: {target: top3}\n", tiny_cnn_resources());
  ASSERT_TRUE(top.status.is_ok()) << top.status.message();
  Item ranked = forwarded_item(input);
  status = top->process(ranked);
  ASSERT_TRUE(status.is_ok()) << status.message();
  const std::vector<int64_t> order = testing::to_longs(std::get<1>(scripted_logits(input)[0].topk(3)));
  EXPECT_LE(relative_deviation(ranked.tensor("relevance").value(), autograd(input, {order[0]}).gradient_x_input), 1e-4);
  EXPECT_LE(relative_deviation(ranked.tensor("relevance@top2").value(), autograd(input, {order[1]}).gradient_x_input), 1e-4);
  EXPECT_LE(relative_deviation(ranked.tensor("relevance@top3").value(), autograd(input, {order[2]}).gradient_x_input), 1e-4);
  EXPECT_FALSE(ranked.has("relevance@top4"));

  // slot:NAME: the class per sample from another slot.
  auto from_slot = open_stage("type: lrp\noptions: {target: \"slot:label\"}\n", tiny_cnn_resources());
  ASSERT_TRUE(from_slot.status.is_ok()) << from_slot.status.message();
  Item labelled = forwarded_item(input);
  labelled.set("label", at::tensor({order[2]}, at::kLong));
  status = from_slot->process(labelled);
  ASSERT_TRUE(status.is_ok()) << status.message();
  EXPECT_EQ(testing::to_longs(labelled.tensor("target").value()), std::vector<int64_t>{order[2]});
}

TEST(LrpStage, KeepLayersKeepsOnlyTheNamedLayers) {
  auto stage = open_stage("type: lrp\noptions: {keep_layers: [\"5\"]}\n", tiny_cnn_resources());
  ASSERT_TRUE(stage.status.is_ok()) << stage.status.message();
  Item item = forwarded_item(load_case("tiny_cnn").at("input").slice(0, 0, 1));
  const Status status = stage->process(item);
  ASSERT_TRUE(status.is_ok()) << status.message();
  auto explanation = lrp::get_explanation(item);
  ASSERT_TRUE(explanation) << explanation.status().message();
  EXPECT_EQ(explanation.value()->layer_output_relevance.count("5"), 1u);
  EXPECT_EQ(explanation.value()->layer_output_relevance.count("2"), 0u);
  // The relevance at the layer's output, shaped like that output.
  auto acts = lrp::get_activations(item);
  ASSERT_TRUE(acts);
  EXPECT_EQ(explanation.value()->layer_output_relevance.at("5").sizes(),
            acts.value()->outputs[static_cast<size_t>(tiny_cnn()->find("5"))].sizes());
}

TEST(LrpStage, ErrorsNameTheSlotTheLayerTheTargetAndTheResource) {
  const std::string layer = open_error("type: lrp\noptions: {keep_layers: [\"5\", conv9]}\n", tiny_cnn_resources());
  std::string names;
  for (const std::string& n : tiny_cnn()->parametric_layer_names()) names += (names.empty() ? "" : ", ") + n;
  EXPECT_NE(layer.find("option keep_layers: layer 'conv9' is not in the model (its layers: " + names + ")"), std::string::npos)
      << layer;
  const std::string target = open_error("type: lrp\noptions: {target: biggest}\n", tiny_cnn_resources());
  EXPECT_NE(target.find("target 'biggest' is not one of"), std::string::npos) << target;
  EXPECT_NE(open_error("type: lrp\noptions: {rules: lrp_rules}\n", tiny_cnn_resources()).find("no resource named 'lrp_rules'"),
            std::string::npos);
  // A model where a rule set belongs: the resource is of another kind.
  EXPECT_NE(open_error("type: lrp\noptions: {rules: model}\n", tiny_cnn_resources()).find("resource 'model' is not of the kind"),
            std::string::npos);
  const std::string bad_bool = open_error("type: lrp\noptions: {diagnostics: 3}\n", tiny_cnn_resources());
  EXPECT_NE(bad_bool.find("diagnostics"), std::string::npos) << bad_bool;

  auto stage = open_stage("id: explain\ntype: lrp\noptions: {target: \"99\"}\n", tiny_cnn_resources());
  ASSERT_TRUE(stage.status.is_ok()) << stage.status.message();
  Item empty(0, "a", "a.npy");
  EXPECT_FALSE(stage->process(empty).is_ok());
  ASSERT_TRUE(empty.failed());
  EXPECT_EQ(empty.error()->stage, "explain");
  EXPECT_NE(empty.error()->message.find("slot 'activations' is empty"), std::string::npos) << empty.error()->message;
  Item out_of_range = forwarded_item(load_case("tiny_cnn").at("input").slice(0, 0, 1));
  EXPECT_FALSE(stage->process(out_of_range).is_ok());
  ASSERT_TRUE(out_of_range.failed());
  EXPECT_NE(out_of_range.error()->message.find("target class 99 is out of range"), std::string::npos)
      << out_of_range.error()->message;
  EXPECT_FALSE(out_of_range.has("relevance"));
}

}  // namespace
}  // namespace lrpflow
