// The batched passes of the heatmap (per-neuron conditional relevance), critical_paths, deconv and
// fidelity stages give what one pass per neuron or restriction gives, on the quickstart model and on
// a residual fixture model (where relevance from several layers meets at an Add).
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <functional>

#include "fixture_support.h"
#include "lrpflow/lrp/engine.h"
#include "lrpflow/lrp/model_import.h"
#include "lrpflow/selection/neurons.h"
#include "lrpflow/visual/deconv.h"

namespace lrpflow {
namespace {

using lrp::testing::relative_deviation;

constexpr double kTolerance = 1e-5;

struct Case {
  std::shared_ptr<lrp::Model> model;
  at::Tensor input;  // two samples: the batched passes read sample 1
};

Case quickstart_case() {
  lrp::ModelLoadOptions options;
  options.input_shape = {1, 28, 28};
  auto model = lrp::load_model(LRPFLOW_MODELS_DIR "/fashion_mnist_vgg.pt", options);
  EXPECT_TRUE(model) << model.status().message();
  at::manual_seed(8);
  return {model.value(), at::randn({2, 1, 28, 28})};
}

Case residual_case() {
  auto model = lrp::testing::load_fixture_model("resnet_tiny", "scripted");
  EXPECT_TRUE(model) << model.status().message();
  return {model.value(), lrp::testing::load_case("resnet_tiny").at("input").narrow(0, 0, 2)};
}

// The Conv2d/Linear layers below the output layer, lowest first.
std::vector<std::string> hidden_parametric_layers(const lrp::Model& model) {
  std::vector<std::string> names;
  for (int i = 0; i < model.output_layer(); ++i)
    if (lrp::is_parametric(model.layer(i).kind)) names.push_back(model.layer(i).name);
  return names;
}

std::int64_t neurons_of(const lrp::Activations& acts, const lrp::Model& model, const std::string& layer) {
  return acts.outputs[static_cast<size_t>(model.find(layer))].size(1);
}

// The two neurons of every hidden Conv2d/Linear layer whose `per_layer` tensor (sample 1) has the
// largest magnitude: neurons that carry something, so that the comparisons are not of zeros.
std::vector<lrp::NeuronCondition> strongest_two(const lrp::Model& model,
                                                const std::function<at::Tensor(const std::string&)>& per_layer) {
  std::vector<lrp::NeuronCondition> conditions;
  for (const auto& layer : hidden_parametric_layers(model)) {
    const at::Tensor t = per_layer(layer)[1];
    const at::Tensor magnitude = t.abs().reshape({t.size(0), -1}).sum(1);
    const at::Tensor top = std::get<1>(magnitude.topk(2));
    for (std::int64_t i = 0; i < 2; ++i) conditions.push_back({layer, top[i].item<std::int64_t>()});
  }
  return conditions;
}

void expect_batched_conditional_relevance_matches(const Case& c, const std::string& ruleset = "epsilon_plus_flat") {
  SCOPED_TRACE("rule set " + ruleset);
  auto rules = lrp::testing::ruleset_for_method(ruleset, c.model);
  ASSERT_TRUE(rules) << rules.status().message();
  const lrp::Engine engine(rules.value());
  auto acts = c.model->forward(c.input);
  ASSERT_TRUE(acts) << acts.status().message();
  auto start = lrp::Engine::start_relevance(acts.value().logits, {1, 2});
  ASSERT_TRUE(start);
  lrp::ExplainOptions keep_all;
  keep_all.keep_output_relevance = {"*"};
  auto full = engine.propagate(acts.value(), start.value(), keep_all);
  ASSERT_TRUE(full) << full.status().message();
  const std::int64_t sample = 1;

  // Down to the input, conditions from every hidden layer in one batch (the heatmap stage).
  const auto conditions = strongest_two(*c.model, [&](const std::string& layer) { return full.value().layer_output_relevance.at(layer); });
  ASSERT_GE(conditions.size(), 4u);
  auto batched = lrp::propagate_conditions(engine, acts.value(), full.value(), sample, conditions);
  ASSERT_TRUE(batched) << batched.status().message();
  ASSERT_EQ(batched.value().input_relevance.size(0), static_cast<std::int64_t>(conditions.size()));
  for (size_t k = 0; k < conditions.size(); ++k) {
    auto only = lrp::single_neuron_relevance(full.value(), conditions[k].layer, conditions[k].neuron);
    ASSERT_TRUE(only);
    lrp::ExplainOptions one;
    one.resume_at = conditions[k].layer;
    one.resume_relevance = only.value();
    one.diagnostics = false;
    auto single = engine.propagate(acts.value(), start.value(), one);
    ASSERT_TRUE(single) << single.status().message();
    const at::Tensor expected = single.value().input_relevance[sample];
    ASSERT_GT(expected.abs().max().item<double>(), 0.0) << conditions[k].layer;
    EXPECT_LE(relative_deviation(batched.value().input_relevance[static_cast<std::int64_t>(k)], expected), kTolerance)
        << conditions[k].layer << " neuron " << conditions[k].neuron;
  }

  // From one layer, stopping at the layer below (the critical_paths stage).
  const auto layers = hidden_parametric_layers(*c.model);
  const std::string& lower = layers[0];
  const std::string& upper = layers[1];
  std::vector<lrp::NeuronCondition> uppers;
  for (std::int64_t n = 0; n < neurons_of(acts.value(), *c.model, upper); n += 3) uppers.push_back({upper, n});
  lrp::ExplainOptions stop;
  stop.keep_output_relevance = {lower};
  stop.stop_at = lower;
  auto stopped = lrp::propagate_conditions(engine, acts.value(), full.value(), sample, uppers, stop);
  ASSERT_TRUE(stopped) << stopped.status().message();
  EXPECT_FALSE(stopped.value().input_relevance.defined());
  for (size_t k = 0; k < uppers.size(); ++k) {
    lrp::ExplainOptions one = stop;
    one.resume_at = upper;
    one.resume_relevance = lrp::single_neuron_relevance(full.value(), upper, uppers[k].neuron).value();
    one.diagnostics = false;
    auto single = engine.propagate(acts.value(), start.value(), one);
    ASSERT_TRUE(single) << single.status().message();
    EXPECT_LE(relative_deviation(stopped.value().layer_output_relevance.at(lower)[static_cast<std::int64_t>(k)],
                                 single.value().layer_output_relevance.at(lower)[sample]),
              kTolerance)
        << upper << " neuron " << uppers[k].neuron;
  }

  // Bad requests are errors, not crashes.
  EXPECT_FALSE(lrp::propagate_conditions(engine, acts.value(), full.value(), sample, {}));
  EXPECT_FALSE(lrp::propagate_conditions(engine, acts.value(), full.value(), 2, conditions));
  EXPECT_FALSE(lrp::propagate_conditions(engine, acts.value(), full.value(), sample, {{"no such layer", 0}}));
  EXPECT_FALSE(lrp::propagate_conditions(engine, acts.value(), full.value(), sample, {{lower, 0}}, stop));
}

TEST(BatchedPasses, ConditionalRelevanceOnTheQuickstartModel) { expect_batched_conditional_relevance_matches(quickstart_case()); }
TEST(BatchedPasses, ConditionalRelevanceOnAResidualModel) { expect_batched_conditional_relevance_matches(residual_case()); }
// The batched rows are views of one sample (stride 0 along the batch), whose forward parts every
// rule computes once (kernels.h): each rule with a forward part, on its fast and general paths.
TEST(BatchedPasses, ConditionalRelevanceWithEveryAffineRule) {
  for (const char* ruleset : {"epsilon_gamma_box", "epsilon_alpha2_beta1", "zplus", "gamma", "alpha2beta1"}) {
    expect_batched_conditional_relevance_matches(quickstart_case(), ruleset);
    expect_batched_conditional_relevance_matches(residual_case(), ruleset);
  }
}

void expect_batched_deconvolution_matches(const Case& c) {
  auto acts = c.model->forward(c.input);
  ASSERT_TRUE(acts) << acts.status().message();
  std::vector<visual::DeconvTarget> targets;
  const auto strongest = strongest_two(*c.model, [&](const std::string& layer) {
    // What a ReLU after the layer passes on, which is what the deconvolution starts from.
    return acts.value().outputs[static_cast<size_t>(c.model->find(layer))].clamp_min(0);
  });
  for (const auto& condition : strongest) targets.push_back({condition.layer, condition.neuron});
  for (const bool guided : {false, true})
    for (const bool strongest : {false, true}) {
      const visual::DeconvOptions options{guided, strongest};
      auto batched = visual::deconvolve_each(*c.model, acts.value(), 1, targets, options);
      ASSERT_TRUE(batched) << batched.status().message();
      ASSERT_EQ(batched.value().size(0), static_cast<std::int64_t>(targets.size()));
      for (size_t k = 0; k < targets.size(); ++k) {
        auto single = visual::deconvolve(*c.model, acts.value(), 1, targets[k].layer, targets[k].neuron, options);
        ASSERT_TRUE(single) << single.status().message();
        ASSERT_GT(single.value().abs().max().item<double>(), 0.0) << targets[k].layer;
        EXPECT_LE(relative_deviation(batched.value()[static_cast<std::int64_t>(k)], single.value()), kTolerance)
            << targets[k].layer << " neuron " << targets[k].neuron << " guided " << guided << " strongest " << strongest;
      }
    }
  EXPECT_FALSE(visual::deconvolve_each(*c.model, acts.value(), 1, {}, {}));
  EXPECT_FALSE(visual::deconvolve_each(*c.model, acts.value(), 1, {{targets[0].layer, 100000}}, {}));
}

TEST(BatchedPasses, DeconvolutionOnTheQuickstartModel) { expect_batched_deconvolution_matches(quickstart_case()); }
TEST(BatchedPasses, DeconvolutionOnAResidualModel) { expect_batched_deconvolution_matches(residual_case()); }

void expect_batched_restricted_forward_matches(const Case& c) {
  auto acts = c.model->forward(c.input);
  ASSERT_TRUE(acts) << acts.status().message();
  using Kept = std::map<std::string, std::vector<std::int64_t>>;
  std::vector<Kept> variants;
  Kept several;
  for (const auto& layer : hidden_parametric_layers(*c.model)) {
    const std::int64_t size = neurons_of(acts.value(), *c.model, layer);
    std::vector<std::int64_t> every(static_cast<size_t>(size));
    for (std::int64_t n = 0; n < size; ++n) every[static_cast<size_t>(n)] = n;
    for (std::int64_t k = 1; k < size; k *= 2) variants.push_back({{layer, {every.begin(), every.begin() + k}}});
    variants.push_back({{layer, every}});  // keeps everything: the full output, bit for bit
    variants.push_back({{layer, {}}});     // keeps nothing
    several[layer] = {every.begin(), every.begin() + (size + 1) / 2};
  }
  variants.push_back(several);
  Kept again = variants[1];  // the same neurons as an earlier variant, listed in another order and twice
  auto& neurons = again.begin()->second;
  neurons.insert(neurons.begin(), neurons.back());
  variants.push_back(again);
  auto batched = selection::forward_keeping_each(*c.model, acts.value(), 1, variants);
  ASSERT_TRUE(batched) << batched.status().message();
  ASSERT_EQ(batched.value().size(0), static_cast<std::int64_t>(variants.size()));
  for (size_t v = 0; v < variants.size(); ++v) {
    auto single = selection::forward_keeping(*c.model, acts.value(), variants[v]);
    ASSERT_TRUE(single) << single.status().message();
    const at::Tensor row = batched.value()[static_cast<std::int64_t>(v)];
    const at::Tensor expected = single.value()[1];
    bool keeps_all = variants[v].size() == 1;
    for (const auto& [layer, neurons] : variants[v])
      keeps_all = keeps_all && static_cast<std::int64_t>(neurons.size()) == neurons_of(acts.value(), *c.model, layer);
    if (keeps_all) {
      EXPECT_TRUE(at::equal(row, acts.value().logits[1])) << "variant " << v;
      EXPECT_TRUE(at::equal(row, expected)) << "variant " << v;
    } else {
      EXPECT_LE(relative_deviation(row, expected), kTolerance) << "variant " << v;
    }
  }
  EXPECT_FALSE(selection::forward_keeping_each(*c.model, acts.value(), 2, variants));
  EXPECT_FALSE(selection::forward_keeping_each(*c.model, acts.value(), 1, {{{"no such layer", {0}}}}));
}

TEST(BatchedPasses, RestrictedForwardOnTheQuickstartModel) { expect_batched_restricted_forward_matches(quickstart_case()); }
TEST(BatchedPasses, RestrictedForwardOnAResidualModel) { expect_batched_restricted_forward_matches(residual_case()); }

}  // namespace
}  // namespace lrpflow
