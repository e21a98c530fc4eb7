// Built-in LRP rules, formulas exactly zennit's (see docs/lrp-engine.md).
//
// Notation: x layer input, z = f(x; W, b) the layer output, R the relevance at the output,
// T(W, s) the transposed map (kernels.h), W+ = max(W, 0), W- = min(W, 0), likewise b, x.
// The affine rules are terms run by one executor (lrpflow/lrp/affine_rule.h), which drops the x-
// terms when the input is non-negative (every layer after a ReLU); gamma keeps a fused kernel for
// that case.
#include "builtin_rules.h"

#include <atomic>
#include <cmath>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include "lrpflow/lrp/affine_rule.h"
#include "lrpflow/lrp/kernels.h"

namespace lrpflow::lrp {
namespace {

const std::vector<LayerKind> kAffine = {LayerKind::Conv2d, LayerKind::Linear};

OptionSpec float_param(std::string name, double value, std::string help) {
  OptionSpec spec;
  spec.name = std::move(name);
  spec.type = OptionType::Float;
  spec.default_value = value;
  spec.help = std::move(help);
  return spec;
}

OptionSpec float_list_param(std::string name, double value, std::string help) {
  OptionSpec spec;
  spec.name = std::move(name);
  spec.type = OptionType::FloatList;
  spec.default_value = std::vector<double>{value};
  spec.help = std::move(help);
  return spec;
}

const char* kStabilizerHelp = "stabiliser added to denominators with their sign (zennit's default 1e-6)";

// ---- Conv2d / Linear rules: terms for the shared executor (lrpflow/lrp/affine_rule.h) ----------

double stabilizer(const Options& params) { return params.get_float("stabilizer"); }

AffineRuleSpec epsilon_terms(const Layer& layer, const Options& params) {
  const double eps = params.get_float("epsilon");
  if (eps < 0) throw std::invalid_argument("epsilon must be >= 0");
  return {{AffineGroup{{AffineTerm::layer_itself(layer)}}}, eps};
}

AffineRuleSpec zplus_terms(const Layer& layer, const Options& params) {
  const SignedParts k(layer);
  return {{AffineGroup{{AffineTerm::of(InputPart::Positive, k.w_pos, k.b_pos), AffineTerm::of(InputPart::Negative, k.w_neg)}}},
          stabilizer(params)};
}

AffineRuleSpec alphabeta_terms(const Layer& layer, const Options& params) {
  const double alpha = params.get_float("alpha"), beta = params.get_float("beta");
  if (std::abs(alpha - beta - 1.0) > 1e-9)
    throw std::invalid_argument("alpha - beta must be 1 for a conservative rule (got alpha=" + std::to_string(alpha) +
                                ", beta=" + std::to_string(beta) + ")");
  const SignedParts k(layer);
  AffineGroup positive{{AffineTerm::of(InputPart::Positive, k.w_pos, k.b_pos), AffineTerm::of(InputPart::Negative, k.w_neg)},
                       alpha};
  AffineGroup negative{{AffineTerm::of(InputPart::Positive, k.w_neg, k.b_neg), AffineTerm::of(InputPart::Negative, k.w_pos)},
                       -beta};
  return {{positive, negative}, stabilizer(params)};
}

// Flat (weights 1, bias 0, input 1) and WSquare (weights and bias squared, input 1): the relevance
// is spread by the receptive field only; it does not depend on the input values.
AffineRuleSpec flat_terms(const Layer& layer, const Options& params) {
  return {{AffineGroup{{AffineTerm::of(InputPart::Ones, at::ones_like(layer.weight))}}}, stabilizer(params)};
}

AffineRuleSpec wsquare_terms(const Layer& layer, const Options& params) {
  at::Tensor bias = layer.bias.defined() ? layer.bias * layer.bias : at::Tensor();
  return {{AffineGroup{{AffineTerm::of(InputPart::Ones, layer.weight * layer.weight, bias)}}}, stabilizer(params)};
}

// ZBox (bounded inputs, low <= x <= high; low/high scalars or one value per input channel):
// z - f(low; W+, b+) - f(high; W-, b-).
at::Tensor zbox_bound(const std::vector<double>& values, int64_t channels, const char* name, LayerKind kind) {
  if (values.size() != 1 && static_cast<int64_t>(values.size()) != channels)
    throw std::invalid_argument(std::string(name) + " needs 1 value or one per input channel (" + std::to_string(channels) +
                                "), got " + std::to_string(values.size()));
  at::Tensor t = at::tensor(values, at::kFloat);
  const int64_t n = static_cast<int64_t>(values.size());
  return kind == LayerKind::Conv2d ? t.view({1, n, 1, 1}) : t.view({1, n});
}

AffineRuleSpec zbox_terms(const Layer& layer, const Options& params) {
  const int64_t channels = layer.kind == LayerKind::Conv2d ? layer.weight.size(1) * layer.groups : layer.weight.size(1);
  at::Tensor low = zbox_bound(params.get_float_list("low"), channels, "low", layer.kind);
  at::Tensor high = zbox_bound(params.get_float_list("high"), channels, "high", layer.kind);
  if ((low > high).any().item<bool>()) throw std::invalid_argument("low must not exceed high");
  const SignedParts k(layer);
  return {{AffineGroup{{AffineTerm::layer_itself(layer), AffineTerm::of_constant(low, k.w_pos, k.b_pos, -1.0),
                        AffineTerm::of_constant(high, k.w_neg, k.b_neg, -1.0)}}},
          stabilizer(params)};
}

// zennit's generalised Gamma rule (valid for signed inputs): W^ = W + g W+, W_ = W + g W-; the
// z > 0 outputs share by W^ for x+ and W_ for x-, the z < 0 outputs the other way round.
AffineRuleSpec gamma_terms(const Layer& layer, double gamma, double eps) {
  const SignedParts k(layer);
  at::Tensor w_hat = k.w + gamma * k.w_pos, w_low = k.w + gamma * k.w_neg;
  at::Tensor b_hat = k.b.defined() ? k.b + gamma * k.b_pos : at::Tensor();
  at::Tensor b_low = k.b.defined() ? k.b + gamma * k.b_neg : at::Tensor();
  AffineGroup positive{{AffineTerm::of(InputPart::Positive, w_hat, b_hat), AffineTerm::of(InputPart::Negative, w_low)}, 1.0,
                       OutputSign::Positive};
  AffineGroup negative{{AffineTerm::of(InputPart::Positive, w_low, b_low), AffineTerm::of(InputPart::Negative, w_hat)}, 1.0,
                       OutputSign::Negative};
  return {{positive, negative}, eps};
}

double checked_gamma(const Options& params) {
  const double gamma = params.get_float("gamma");
  if (gamma < 0) throw std::invalid_argument("gamma must be >= 0");
  return gamma;
}

// Gamma runs its terms on signed inputs and keeps a fused kernel for the common non-negative case.
class GammaRule final : public AffineRule {
 public:
  GammaRule(const Layer& layer, const Options& params)
      : AffineRule(gamma_terms(layer, checked_gamma(params), stabilizer(params))),
        w_(layer.weight),
        w_pos_(layer.weight.clamp_min(0)),
        b_pos_(layer.bias.defined() ? layer.bias.clamp_min(0) : at::Tensor()),
        gamma_(params.get_float("gamma")),
        eps_(stabilizer(params)) {}

 protected:
  std::vector<at::Tensor> compute(const RuleContext& c, RuleDiagnostics& d) const override {
    const Layer& l = c.layer;
    const at::Tensor& x = c.inputs[0];
    const at::Tensor& z = c.output;
    if (!is_non_negative(x)) return run(c, d, false);
    // With p = f(x; W+, b+): f(x; W^, b^) = z + g p (used where z > 0) and f(x; W_, b_) =
    // z + g (z - p) (where z < 0), and T(W^, sp) + T(W_, sn) = T(W, sp + (1 + g) sn) +
    // g T(W+, sp - sn): one extra forward and two transposed maps instead of two and four. sp and
    // sn never overlap, so one quotient s serves both: sp + (1 + g) sn = s * (1 or 1 + g),
    // sp - sn = s * (1 or -1).
    at::Tensor p = affine_forward(l, x, w_pos_, b_pos_);
    at::Tensor for_w, for_w_pos;  // sp + (1 + g) sn and sp - sn
    if (!fused_gamma_quotients(c.relevance, z, p, d, for_w, for_w_pos)) {
      at::Tensor positive = z > 0;
      at::Tensor den = z + gamma_ * at::where(positive, p, z - p);
      at::Tensor s = stabilized_divide(c.relevance, den, eps_, &d.near_zero_denominators).masked_fill_(z == 0, 0.0);
      for_w = at::where(positive, s, (1.0 + gamma_) * s);
      for_w_pos = at::where(positive, s, -s);
    }
    at::Tensor t = affine_transpose(l, for_w, x, w_);
    t.add_(affine_transpose(l, for_w_pos, x, w_pos_), gamma_);
    return {x * t};
  }

 private:
  // The element-wise part of the non-negative path in one memory pass (it is memory-bound and, at
  // high resolution, costs as much as a convolution when done op by op). Same float arithmetic as
  // the op-by-op fallback; false when the tensors are not contiguous-able float32 of one shape.
  bool fused_gamma_quotients(const at::Tensor& relevance, const at::Tensor& z, const at::Tensor& p, RuleDiagnostics& d,
                             at::Tensor& for_w, at::Tensor& for_w_pos) const {
    if (relevance.scalar_type() != at::kFloat || z.scalar_type() != at::kFloat || p.scalar_type() != at::kFloat ||
        relevance.sizes() != z.sizes() || p.sizes() != z.sizes())
      return false;
    const at::Tensor r = relevance.contiguous(), zc = z.contiguous(), pc = p.contiguous();
    for_w = at::empty_like(zc, at::MemoryFormat::Contiguous);
    for_w_pos = at::empty_like(zc, at::MemoryFormat::Contiguous);
    const float* pr = r.data_ptr<float>();
    const float* pz = zc.data_ptr<float>();
    const float* pp = pc.data_ptr<float>();
    float* pa = for_w.data_ptr<float>();
    float* pb = for_w_pos.data_ptr<float>();
    const float g = static_cast<float>(gamma_), e = static_cast<float>(eps_), one_plus_g = static_cast<float>(1.0 + gamma_);
    std::atomic<std::int64_t> near_zero{0};
    at::parallel_for(0, zc.numel(), 1 << 15, [&](std::int64_t begin, std::int64_t end) {
      std::int64_t local = 0;
      for (std::int64_t i = begin; i < end; ++i) {
        const float zi = pz[i];
        const float den = zi + g * (zi > 0.0f ? pp[i] : zi - pp[i]);
        local += std::fabs(den) < e;
        const float s = zi == 0.0f ? 0.0f : pr[i] / (den >= 0.0f ? den + e : den - e);
        pa[i] = zi > 0.0f ? s : one_plus_g * s;
        pb[i] = zi > 0.0f ? s : -s;
      }
      near_zero += local;
    });
    d.near_zero_denominators += near_zero.load();
    return true;
  }

  at::Tensor w_, w_pos_, b_pos_;
  double gamma_, eps_;
};

// ---- Structural layers ------------------------------------------------------------------------

// Pass: relevance goes through unchanged (ReLU, Dropout, standalone BatchNorm), reshaped back
// (Flatten, Reshape) or split (Cat). The ReLU mask is not applied, as in zennit.
class PassRule final : public RuleBase {
 public:
  PassRule(const Layer&, const Options&) {}

 protected:
  std::vector<at::Tensor> compute(const RuleContext& c, RuleDiagnostics&) const override {
    if (c.layer.kind == LayerKind::Cat) {
      std::vector<int64_t> sizes;
      for (const auto& in : c.inputs) sizes.push_back(in.size(c.layer.dim));
      auto parts = at::split_with_sizes(c.relevance, sizes, c.layer.dim);
      return std::vector<at::Tensor>(parts.begin(), parts.end());
    }
    return {c.relevance.reshape(c.inputs[0].sizes())};
  }
};

// Norm: relevance in proportion to each input's share of the output (sums, average pools).
class NormRule final : public RuleBase {
 public:
  NormRule(const Layer&, const Options& params) : eps_(params.get_float("stabilizer")) {}

 protected:
  std::vector<at::Tensor> compute(const RuleContext& c, RuleDiagnostics& d) const override {
    at::Tensor s = stabilized_divide(c.relevance, c.output, eps_, &d.near_zero_denominators);
    if (c.layer.kind == LayerKind::Add) return {c.inputs[0] * s, c.inputs[1] * s};
    return {c.inputs[0] * pool_transpose(c.layer, s, c.inputs[0], c.pool_indices)};
  }

 private:
  double eps_;
};

// Winner-take-all max pooling: each window's relevance goes to its arg-max (the plain gradient).
class WinnerTakeAllRule final : public RuleBase {
 public:
  WinnerTakeAllRule(const Layer&, const Options&) {}

 protected:
  std::vector<at::Tensor> compute(const RuleContext& c, RuleDiagnostics&) const override {
    return {pool_transpose(c.layer, c.relevance, c.inputs[0], c.pool_indices)};
  }
};

// The structural rules are the defaults for every kind they apply to.
template <typename Rule>
std::shared_ptr<const RuleTypeInfo> default_rule_type(std::string name, std::string description,
                                                      std::vector<OptionSpec> params, std::vector<LayerKind> kinds) {
  auto info = std::const_pointer_cast<RuleTypeInfo>(
      make_rule_type<Rule>(std::move(name), std::move(description), std::move(params), std::move(kinds)));
  info->default_for = info->applies_to;
  return info;
}

}  // namespace

const std::vector<std::shared_ptr<const RuleTypeInfo>>& builtin_rule_types() {
  static const std::vector<std::shared_ptr<const RuleTypeInfo>> types = {
      make_affine_rule_type("epsilon", "LRP-epsilon: R_in = x * T(W, R / stab_eps(z)); epsilon = 0 is LRP-0",
                            {float_param("epsilon", 1e-6, "stabiliser added to z with its sign")}, epsilon_terms),
      make_affine_rule_type("zplus", "LRP-z+: positive contributions only (zennit ZPlus, signed inputs: x+ W+ and x- W-)",
                            {float_param("stabilizer", 1e-6, kStabilizerHelp)}, zplus_terms),
      make_affine_rule_type("alphabeta", "LRP-alpha-beta: alpha * positive share - beta * negative share (alpha - beta = 1)",
                            {float_param("alpha", 2.0, "weight of the positive contributions"),
                             float_param("beta", 1.0, "weight of the negative contributions"),
                             float_param("stabilizer", 1e-6, kStabilizerHelp)},
                            alphabeta_terms),
      make_rule_type<GammaRule>(
          "gamma", "LRP-gamma, zennit's generalised form for signed inputs: favours positive contributions by gamma",
          {float_param("gamma", 0.25, "weight added to the positive (or matching-sign) contributions"),
           float_param("stabilizer", 1e-6, kStabilizerHelp)},
          kAffine),
      make_affine_rule_type("flat", "Flat: relevance spread uniformly over the receptive field (weights and input set to 1, bias 0)",
                            {float_param("stabilizer", 1e-6, kStabilizerHelp)}, flat_terms),
      make_affine_rule_type("wsquare", "WSquare: relevance spread in proportion to squared weights (input set to 1, bias squared)",
                            {float_param("stabilizer", 1e-6, kStabilizerHelp)}, wsquare_terms),
      make_affine_rule_type("zbox", "ZBox (z^B) for inputs bounded by low <= x <= high (first layer on images)",
                            {float_list_param("low", -3.0, "lower bound: one value or one per input channel"),
                             float_list_param("high", 3.0, "upper bound: one value or one per input channel"),
                             float_param("stabilizer", 1e-6, kStabilizerHelp)},
                            zbox_terms),
      default_rule_type<PassRule>(
          "pass", "Pass: relevance unchanged (ReLU, Dropout, BatchNorm), reshaped (Flatten, Reshape) or split (Cat)", {},
          {LayerKind::ReLU, LayerKind::Dropout, LayerKind::Flatten, LayerKind::Reshape, LayerKind::BatchNorm, LayerKind::Cat}),
      default_rule_type<NormRule>("norm",
                                  "Norm: relevance in proportion to each input's share of a sum or average (Add, average pools)",
                                  {float_param("stabilizer", 1e-6, kStabilizerHelp)},
                                  {LayerKind::Add, LayerKind::AvgPool2d, LayerKind::AdaptiveAvgPool2d}),
      default_rule_type<WinnerTakeAllRule>(
          "wta", "Winner-take-all max pooling: each window's relevance goes to its arg-max (the plain gradient)", {},
          {LayerKind::MaxPool2d}),
  };
  return types;
}

std::vector<const RuleTypeInfo*> builtin_rule_catalog() {
  std::vector<const RuleTypeInfo*> out;
  for (const auto& t : builtin_rule_types()) out.push_back(t.get());
  return out;
}

}  // namespace lrpflow::lrp
