// The affine-rule executor (lrp/affine_rule.h): its non-negative shortcut against the full signed
// terms, rules composed here in a few lines against the built-in ones (gamma's fused kernel
// included), and the guards of make_rule_type / make_affine_rule_type.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <torch/torch.h>

#include <stdexcept>
#include <string>

#include "builtin_rules.h"
#include "lrpflow/lrp/affine_rule.h"
#include "lrpflow/lrp/kernels.h"

namespace lrpflow::lrp {
namespace {

Layer conv_layer() {
  Layer layer;
  layer.name = "features.0";
  layer.kind = LayerKind::Conv2d;
  layer.weight = at::randn({6, 4, 3, 3});
  layer.bias = at::randn({6}) * 0.1;
  layer.kernel_size = {3, 3};
  layer.stride = {1, 1};
  layer.padding = {1, 1};
  layer.dilation = {1, 1};
  layer.groups = 1;
  return layer;
}

Layer linear_layer() {
  Layer layer;
  layer.name = "classifier.0";
  layer.kind = LayerKind::Linear;
  layer.weight = at::randn({5, 12});
  layer.bias = at::randn({5}) * 0.1;
  return layer;
}

at::Tensor input_for(const Layer& layer, bool non_negative) {
  at::Tensor x = layer.kind == LayerKind::Conv2d ? at::randn({2, 4, 7, 5}) : at::randn({2, 12});
  return non_negative ? x.clamp_min(0) : x;
}

double relative_error(const at::Tensor& a, const at::Tensor& b) {
  return (a - b).abs().max().item<double>() / std::max(1e-30, b.abs().max().item<double>());
}

const RuleTypeInfo& builtin(const std::string& name) {
  for (const auto& type : builtin_rule_types())
    if (type->name == name) return *type;
  throw std::runtime_error("no built-in rule " + name);
}

Options defaults(const RuleTypeInfo& type) {
  Options options;
  for (const auto& spec : type.params) options.set(spec.name, spec.default_value);
  return options;
}

// Runs a prepared rule on one layer with a random output relevance.
at::Tensor apply(const PreparedRule& rule, const Layer& layer, const at::Tensor& x, const at::Tensor& relevance) {
  const at::Tensor z = affine_forward(layer, x, layer.weight, layer.bias);
  const std::vector<at::Tensor> inputs{x};
  RuleDiagnostics diagnostics;
  auto result = rule.apply(RuleContext{layer, inputs, z, relevance, nullptr}, diagnostics);
  if (!result.is_ok()) throw std::runtime_error(result.status().message());
  return result.value()[0];
}

at::Tensor apply(const RuleTypeInfo& type, const Layer& layer, const at::Tensor& x, const at::Tensor& relevance) {
  auto prepared = type.prepare(layer, defaults(type));
  if (!prepared.is_ok()) throw std::runtime_error(prepared.status().message());
  return apply(*prepared.value(), layer, x, relevance);
}

// Exposes the executor's two paths.
class BothPaths final : public AffineRule {
 public:
  using AffineRule::AffineRule;
  at::Tensor signed_path(const Layer& layer, const at::Tensor& x, const at::Tensor& relevance) const {
    return path(layer, x, relevance, false);
  }
  at::Tensor shortcut(const Layer& layer, const at::Tensor& x, const at::Tensor& relevance) const {
    return path(layer, x, relevance, true);
  }

 private:
  at::Tensor path(const Layer& layer, const at::Tensor& x, const at::Tensor& relevance, bool non_negative) const {
    const at::Tensor z = affine_forward(layer, x, layer.weight, layer.bias);
    const std::vector<at::Tensor> inputs{x};
    RuleDiagnostics diagnostics;
    return run(RuleContext{layer, inputs, z, relevance, nullptr}, diagnostics, non_negative)[0];
  }
};

// zennit's generalised gamma, composed from terms (the built-in gamma runs these on signed inputs
// and a fused kernel on non-negative ones).
AffineRuleSpec gamma_terms(const Layer& layer, double gamma) {
  const SignedParts k(layer);
  at::Tensor w_hat = k.w + gamma * k.w_pos, w_low = k.w + gamma * k.w_neg;
  at::Tensor b_hat = k.b + gamma * k.b_pos, b_low = k.b + gamma * k.b_neg;
  return {{AffineGroup{{AffineTerm::of(InputPart::Positive, w_hat, b_hat), AffineTerm::of(InputPart::Negative, w_low)}, 1.0,
                       OutputSign::Positive},
           AffineGroup{{AffineTerm::of(InputPart::Positive, w_low, b_low), AffineTerm::of(InputPart::Negative, w_hat)}, 1.0,
                       OutputSign::Negative}},
          1e-6};
}

AffineRuleSpec alphabeta_terms(const Layer& layer, double alpha, double beta) {
  const SignedParts k(layer);
  return {{AffineGroup{{AffineTerm::of(InputPart::Positive, k.w_pos, k.b_pos), AffineTerm::of(InputPart::Negative, k.w_neg)},
                       alpha},
           AffineGroup{{AffineTerm::of(InputPart::Positive, k.w_neg, k.b_neg), AffineTerm::of(InputPart::Negative, k.w_pos)},
                       -beta}},
          1e-6};
}

class AffineRules : public ::testing::TestWithParam<LayerKind> {
 protected:
  Layer layer() const { return GetParam() == LayerKind::Conv2d ? conv_layer() : linear_layer(); }
};

TEST_P(AffineRules, NonNegativeShortcutEqualsTheFullSignedTerms) {
  torch::manual_seed(3);
  const Layer l = layer();
  const at::Tensor x = input_for(l, /*non_negative=*/true);
  const at::Tensor relevance = at::randn(affine_forward(l, x, l.weight, l.bias).sizes());
  for (const auto& [name, spec] : {std::pair<std::string, AffineRuleSpec>{"gamma", gamma_terms(l, 0.25)},
                                   {"alphabeta", alphabeta_terms(l, 2.0, 1.0)}}) {
    SCOPED_TRACE(name);
    const BothPaths rule(spec);
    const at::Tensor full = rule.signed_path(l, x, relevance);
    const at::Tensor shortcut = rule.shortcut(l, x, relevance);
    EXPECT_GT(full.abs().max().item<double>(), 0.0);
    EXPECT_LT(relative_error(shortcut, full), 1e-5);
  }
}

TEST_P(AffineRules, GammasFusedKernelEqualsItsTerms) {
  torch::manual_seed(4);
  const Layer l = layer();
  for (bool non_negative : {true, false}) {
    SCOPED_TRACE(non_negative ? "non-negative input" : "signed input");
    const at::Tensor x = input_for(l, non_negative);
    const at::Tensor relevance = at::randn(affine_forward(l, x, l.weight, l.bias).sizes());
    const at::Tensor composed = BothPaths(gamma_terms(l, 0.25)).signed_path(l, x, relevance);
    const at::Tensor built_in = apply(builtin("gamma"), l, x, relevance);
    EXPECT_GT(composed.abs().max().item<double>(), 0.0);
    EXPECT_LT(relative_error(built_in, composed), 1e-5);
  }
}

TEST_P(AffineRules, AlphaOneBetaZeroIsZPlusAndEveryRuleConservesWithoutBias) {
  torch::manual_seed(5);
  Layer l = layer();
  l.bias = at::zeros_like(l.bias);
  for (bool non_negative : {true, false}) {
    SCOPED_TRACE(non_negative ? "non-negative input" : "signed input");
    const at::Tensor x = input_for(l, non_negative);
    const at::Tensor z = affine_forward(l, x, l.weight, l.bias);
    const at::Tensor relevance = z.clone();  // R = z: each rule's input relevance must sum to sum(z) per sample
    const at::Tensor zplus = apply(builtin("zplus"), l, x, relevance);
    const at::Tensor ab = BothPaths(alphabeta_terms(l, 1.0, 0.0)).signed_path(l, x, relevance);
    EXPECT_LT(relative_error(ab, zplus), 1e-5);
    // LRP-0 (epsilon) and the input-free rules conserve exactly what reaches the layer.
    for (const char* name : {"epsilon", "flat", "wsquare"}) {
      SCOPED_TRACE(name);
      const at::Tensor r_in = apply(builtin(name), l, x, relevance);
      const at::Tensor in_sums = r_in.flatten(1).sum(1), out_sums = relevance.flatten(1).sum(1);
      EXPECT_LT(relative_error(in_sums, out_sums), 1e-4);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(ConvAndLinear, AffineRules, ::testing::Values(LayerKind::Conv2d, LayerKind::Linear),
                         [](const auto& info) { return info.param == LayerKind::Conv2d ? "Conv2d" : "Linear"; });

TEST(RuleTypeGuards, ThrowingPreparationBecomesTheBindingError) {
  struct Refuses final : RuleBase {
    Refuses(const Layer&, const Options&) { throw std::invalid_argument("k must be positive"); }
    std::vector<at::Tensor> compute(const RuleContext&, RuleDiagnostics&) const override { return {}; }
  };
  const auto by_class = make_rule_type<Refuses>("refuses", "always refuses", {}, {LayerKind::Conv2d});
  const Layer l = conv_layer();
  auto prepared = by_class->prepare(l, Options{});
  ASSERT_FALSE(prepared.is_ok());
  EXPECT_EQ(prepared.status().message(), "k must be positive");
  EXPECT_EQ(by_class->applies_to, std::vector<LayerKind>{LayerKind::Conv2d});

  const auto by_terms = make_affine_rule_type("refuses_terms", "always refuses", {}, [](const Layer&, const Options&) -> AffineRuleSpec {
    throw std::invalid_argument("no terms");
  });
  auto refused = by_terms->prepare(l, Options{});
  ASSERT_FALSE(refused.is_ok());
  EXPECT_EQ(refused.status().message(), "no terms");
  EXPECT_EQ(by_terms->applies_to, (std::vector<LayerKind>{LayerKind::Conv2d, LayerKind::Linear}));
}

TEST(RuleTypeGuards, AnExceptionInApplyBecomesAnErrorStatus) {
  // A term whose weight does not fit the layer: the executor's convolution throws inside apply().
  const Layer l = conv_layer();
  const auto bad = make_affine_rule_type("bad", "mismatched weight", {}, [](const Layer&, const Options&) {
    return AffineRuleSpec{{AffineGroup{{AffineTerm::of(InputPart::Input, at::ones({6, 5, 3, 3}))}}}, 1e-6};
  });
  auto prepared = bad->prepare(l, Options{});
  ASSERT_TRUE(prepared.is_ok());
  const at::Tensor x = input_for(l, true);
  const at::Tensor z = affine_forward(l, x, l.weight, l.bias);
  const std::vector<at::Tensor> inputs{x};
  RuleDiagnostics diagnostics;
  auto result = prepared.value()->apply(RuleContext{l, inputs, z, z, nullptr}, diagnostics);
  ASSERT_FALSE(result.is_ok());
  EXPECT_FALSE(result.status().message().empty());
}

}  // namespace
}  // namespace lrpflow::lrp
