// Engine behaviour beyond the fixtures: LRP-0 equals gradient x input, conditional relevance
// (masks) is linear and local, errors name the layer, conservation diagnostics.
#include <gtest/gtest.h>

#include <thread>

#include "builtin_rules.h"
#include "fixture_support.h"
#include "lrpflow/lrp/engine.h"
#include "lrpflow/lrp/model_import.h"

namespace lrpflow::lrp {
namespace {

using testing::config_dir;
using testing::load_case;
using testing::load_fixture_model;
using testing::relative_deviation;

std::shared_ptr<RuleSet> bind_ruleset(const std::string& name, std::shared_ptr<const Model> model,
                              const std::vector<std::string>& overrides = {}) {
  auto spec = find_ruleset(config_dir() + "/rulesets/" + name + ".yaml");
  if (!spec) throw std::runtime_error(spec.status().message());
  for (const auto& o : overrides) {
    Status s = add_param_override(spec.value(), o);
    if (!s) throw std::runtime_error(s.message());
  }
  auto bound = RuleSet::bind(spec.value(), std::move(model), builtin_rule_catalog());
  if (!bound) throw std::runtime_error(bound.status().message());
  return bound.value();
}

TEST(Engine, EpsilonZeroEqualsGradientTimesInput) {
  for (const std::string case_name : {"tiny_cnn", "vgg16_narrow", "resnet_tiny"}) {
    auto model = load_fixture_model(case_name, "scripted");
    ASSERT_TRUE(model);
    const auto& ref = load_case(case_name);
    const at::Tensor& input = ref.at("input");
    Engine engine(bind_ruleset("epsilon", model.value(), {"epsilon.epsilon=0"}));
    std::vector<int64_t> targets(static_cast<size_t>(input.size(0)), 1);
    auto lrp = engine.explain(input, targets);
    ASSERT_TRUE(lrp) << lrp.status().message();
    // LRP-0 from one_hot * logit hands down x * d logit / dx (the logit cancels against the last
    // layer's denominator), and Norm at sums/pools is gradient x input too (1e-6 stabiliser aside).
    auto one_hot = one_hot_targets(lrp.value().logits, targets);
    ASSERT_TRUE(one_hot);
    auto grad = gradient(*model.value(), input, one_hot.value());
    ASSERT_TRUE(grad) << grad.status().message();
    EXPECT_LE(relative_deviation(lrp.value().input_relevance, grad.value().input_gradient * input), 1e-3) << case_name;
  }
}

TEST(Engine, MasksSelectNeuronsAndRelevanceIsLinearInThem) {
  auto model = load_fixture_model("vgg16_narrow", "traced");
  ASSERT_TRUE(model);
  const at::Tensor input = load_case("vgg16_narrow").at("input");
  Engine engine(bind_ruleset("epsilon_gamma_box", model.value()));
  const std::vector<int64_t> targets{9, 2};
  auto full = engine.explain(input, targets);
  ASSERT_TRUE(full);
  at::Tensor total = at::zeros_like(input);
  const std::string layer = "features.28";
  for (int64_t channel = 0; channel < 64; channel += 16) {
    ExplainOptions options;
    std::vector<int64_t> group;
    for (int64_t c = channel; c < channel + 16; ++c) group.push_back(c);
    options.masks.push_back({layer, group});
    options.keep_output_relevance = {layer};
    auto part = engine.explain(input, targets, options);
    ASSERT_TRUE(part) << part.status().message();
    // Outside the group the relevance at the layer's output is zero.
    at::Tensor out = part.value().layer_output_relevance.at(layer);
    at::Tensor outside = at::cat({out.slice(1, 0, channel), out.slice(1, channel + 16)}, 1);
    EXPECT_EQ(outside.abs().max().item<float>(), 0.0f);
    total += part.value().input_relevance;
  }
  EXPECT_LE(relative_deviation(total, full.value().input_relevance), 1e-4);

  ExplainOptions bad;
  bad.masks.push_back({layer, {64}});
  auto out_of_range = engine.explain(input, targets, bad);
  ASSERT_FALSE(out_of_range);
  EXPECT_NE(out_of_range.status().message().find("features.28"), std::string::npos);
  bad.masks = {{"features.99", {0}}};
  EXPECT_FALSE(engine.explain(input, targets, bad));
}

TEST(Engine, ResumeAndStopGiveTheMaskedRelevanceWithoutTheLayersAboveOrBelow) {
  // In a sequential model, starting at a layer with its masked output relevance is the same as
  // masking there during a full pass; stopping at a lower layer reads that layer's share only.
  auto model = load_fixture_model("vgg16_narrow", "scripted");
  ASSERT_TRUE(model);
  const at::Tensor input = load_case("vgg16_narrow").at("input");
  Engine engine(bind_ruleset("epsilon_plus_flat", model.value()));
  const std::vector<int64_t> targets{3, 7};
  const std::string upper = "features.21", lower = "features.12";
  ExplainOptions keep_all;
  keep_all.keep_output_relevance = {"*"};
  auto full = engine.explain(input, targets, keep_all);
  ASSERT_TRUE(full) << full.status().message();

  ExplainOptions masked;
  masked.masks.push_back({upper, {5}});
  masked.keep_output_relevance = {lower};
  auto reference = engine.explain(input, targets, masked);
  ASSERT_TRUE(reference);

  at::Tensor only_5 = at::zeros_like(full.value().layer_output_relevance.at(upper));
  only_5.select(1, 5).copy_(full.value().layer_output_relevance.at(upper).select(1, 5));
  ExplainOptions resumed;
  resumed.resume_at = upper;
  resumed.resume_relevance = only_5;
  auto to_input = engine.explain(input, targets, resumed);
  ASSERT_TRUE(to_input) << to_input.status().message();
  EXPECT_LE(relative_deviation(to_input.value().input_relevance, reference.value().input_relevance), 1e-6);

  resumed.stop_at = lower;
  resumed.keep_output_relevance = {lower};
  auto stopped = engine.explain(input, targets, resumed);
  ASSERT_TRUE(stopped) << stopped.status().message();
  EXPECT_FALSE(stopped.value().input_relevance.defined());
  EXPECT_LE(relative_deviation(stopped.value().layer_output_relevance.at(lower),
                               reference.value().layer_output_relevance.at(lower)), 1e-6);

  ExplainOptions wrong_shape;
  wrong_shape.resume_at = upper;
  wrong_shape.resume_relevance = at::zeros({1});
  EXPECT_FALSE(engine.explain(input, targets, wrong_shape));
  ExplainOptions upside_down;
  upside_down.resume_at = lower;
  upside_down.resume_relevance = at::zeros_like(full.value().layer_output_relevance.at(lower));
  upside_down.stop_at = upper;
  EXPECT_FALSE(engine.explain(input, targets, upside_down));
}

TEST(Engine, TargetErrorsAndNonFiniteInput) {
  auto model = load_fixture_model("tiny_cnn", "scripted");
  ASSERT_TRUE(model);
  Engine engine(bind_ruleset("zplus", model.value()));
  const at::Tensor input = load_case("tiny_cnn").at("input");
  auto too_few = engine.explain(input, {1});
  ASSERT_FALSE(too_few);
  EXPECT_NE(too_few.status().message().find("1 targets for a batch of 4"), std::string::npos);
  auto out_of_range = engine.explain(input, {1, 2, 3, 10});
  ASSERT_FALSE(out_of_range);
  EXPECT_NE(out_of_range.status().message().find("target 10"), std::string::npos);
  at::Tensor inf = input.clone();
  inf[2][0][0][0] = std::numeric_limits<float>::infinity();
  auto not_finite = engine.explain(inf, {1, 2, 3, 4});
  ASSERT_FALSE(not_finite);
  EXPECT_NE(not_finite.status().message().find("NaN or Inf"), std::string::npos);
}

TEST(Engine, NonFiniteRelevanceIsAnErrorNamingTheLayer) {
  // LRP-0 on a layer whose pre-activation is exactly zero divides by zero.
  auto model = load_model(config_dir() + "/models/tiny_cnn.yaml");
  ASSERT_TRUE(model);
  Engine engine(bind_ruleset("epsilon", model.value(), {"epsilon.epsilon=0"}));
  auto result = engine.explain(at::zeros({1, 3, 32, 32}), {0});  // zero biases: every z is 0
  ASSERT_FALSE(result);
  EXPECT_NE(result.status().message().find("layer '12'"), std::string::npos) << result.status().message();
  EXPECT_NE(result.status().message().find("NaN or Inf"), std::string::npos);
  ExplainOptions quiet;
  quiet.diagnostics = false;  // the guard does not depend on the diagnostics
  auto without = engine.explain(at::zeros({1, 3, 32, 32}), {0}, quiet);
  ASSERT_FALSE(without);
  EXPECT_NE(without.status().message().find("layer '12'"), std::string::npos) << without.status().message();
}

TEST(Engine, ConservationDiagnostics) {
  auto model = load_fixture_model("resnet_tiny", "scripted");
  ASSERT_TRUE(model);
  Engine engine(bind_ruleset("zplus", model.value()));
  const at::Tensor input = load_case("resnet_tiny").at("input");
  auto e = engine.explain(input, {6, 6, 6});
  ASSERT_TRUE(e);
  int checked = 0;
  for (const auto& d : e.value().diagnostics) {
    const LayerKind kind = model.value()->layer(model.value()->find(d.layer)).kind;
    // Max-pool routing, pass-through and residual Norm conserve (up to the 1e-6 stabiliser).
    if (kind == LayerKind::MaxPool2d || kind == LayerKind::ReLU || kind == LayerKind::Flatten || kind == LayerKind::Add) {
      for (size_t s = 0; s < d.relevance_in.size(); ++s)
        EXPECT_NEAR(d.relevance_in[s], d.relevance_out[s], 1e-4 * std::abs(d.relevance_out[s]) + 1e-6) << d.layer;
      ++checked;
    }
  }
  EXPECT_GE(checked, 5);
  // The first layer's input relevance sum is what the engine reports at the input.
  const auto& last = e.value().diagnostics.back();
  at::Tensor sums = e.value().input_relevance.reshape({3, -1}).sum(1);
  for (size_t s = 0; s < 3; ++s) EXPECT_NEAR(last.relevance_in[s], sums[s].item<double>(), 1e-4);
}

TEST(Engine, ConcurrentExplanationsAgree) {
  auto model = load_fixture_model("tiny_cnn", "traced");
  ASSERT_TRUE(model);
  Engine engine(bind_ruleset("epsilon_plus_flat", model.value()));
  const at::Tensor input = load_case("tiny_cnn").at("input");
  auto reference = engine.explain(input, {5, 5, 5, 5});
  ASSERT_TRUE(reference);
  std::vector<at::Tensor> results(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      auto r = engine.explain(input, {5, 5, 5, 5});
      if (r) results[t] = r.value().input_relevance;
    });
  for (auto& th : threads) th.join();
  for (const auto& r : results) {
    ASSERT_TRUE(r.defined());
    EXPECT_TRUE(at::allclose(r, reference.value().input_relevance));
  }
}

}  // namespace
}  // namespace lrpflow::lrp
