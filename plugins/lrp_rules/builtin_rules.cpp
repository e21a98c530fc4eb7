// Built-in LRP rules, formulas exactly zennit's (see docs/lrp-engine.md).
//
// Notation: x layer input, z = f(x; W, b) the layer output, R the relevance at the output,
// T(W, s) the transposed map (kernels.h), W+ = max(W, 0), W- = min(W, 0), likewise b, x.
// When the input is non-negative (every layer after a ReLU) the x- terms vanish and the rules take
// cheaper paths; the general signed path serves first layers.
#include "builtin_rules.h"

#include <atomic>
#include <cmath>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

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

bool non_negative(const at::Tensor& x) { return x.numel() == 0 || x.min().item<float>() >= 0.0f; }

// Batch-1 tensor shaped like one sample of x.
std::vector<int64_t> one_sample_shape(const at::Tensor& x) {
  std::vector<int64_t> shape(x.sizes().begin(), x.sizes().end());
  shape[0] = 1;
  return shape;
}

// Wraps a rule constructor so that no exception leaves prepare().
template <typename Rule>
RuleFactory factory() {
  return [](const Layer& layer, const Options& params) -> Result<std::shared_ptr<const PreparedRule>> {
    try {
      return std::shared_ptr<const PreparedRule>(std::make_shared<Rule>(layer, params));
    } catch (const std::exception& e) {
      return Status::error(exception_message(e));
    }
  };
}

// ---- Conv2d / Linear rules -------------------------------------------------------------------

class EpsilonRule final : public RuleBase {
 public:
  EpsilonRule(const Layer& layer, const Options& params) : weight_(layer.weight), eps_(params.get_float("epsilon")) {
    if (eps_ < 0) throw std::invalid_argument("epsilon must be >= 0");
  }

 protected:
  std::vector<at::Tensor> compute(const RuleContext& c, RuleDiagnostics& d) const override {
    const at::Tensor& x = c.inputs[0];
    at::Tensor s = stabilized_divide(c.relevance, c.output, eps_, &d.near_zero_denominators);
    return {x * affine_transpose(c.layer, s, x, weight_)};
  }

 private:
  at::Tensor weight_;
  double eps_;
};

// Shared precomputation of the sign-split kernels.
struct SplitWeights {
  explicit SplitWeights(const Layer& layer)
      : w(layer.weight),
        b(layer.bias),
        w_pos(layer.weight.clamp_min(0)),
        w_neg(layer.weight.clamp_max(0)),
        b_pos(layer.bias.clamp_min(0)),
        b_neg(layer.bias.clamp_max(0)) {}
  at::Tensor w, b, w_pos, w_neg, b_pos, b_neg;
};

class ZPlusRule final : public RuleBase {
 public:
  ZPlusRule(const Layer& layer, const Options& params) : k_(layer), eps_(params.get_float("stabilizer")) {}

 protected:
  std::vector<at::Tensor> compute(const RuleContext& c, RuleDiagnostics& d) const override {
    const Layer& l = c.layer;
    const at::Tensor& x = c.inputs[0];
    if (non_negative(x)) {
      at::Tensor zp = affine_forward(l, x, k_.w_pos, k_.b_pos);
      at::Tensor s = stabilized_divide(c.relevance, zp, eps_, &d.near_zero_denominators);
      return {x * affine_transpose(l, s, x, k_.w_pos)};
    }
    at::Tensor xp = x.clamp_min(0), xn = x.clamp_max(0);
    at::Tensor zp = affine_forward(l, xp, k_.w_pos, k_.b_pos) + affine_forward(l, xn, k_.w_neg, {});
    at::Tensor s = stabilized_divide(c.relevance, zp, eps_, &d.near_zero_denominators);
    return {xp * affine_transpose(l, s, x, k_.w_pos) + xn * affine_transpose(l, s, x, k_.w_neg)};
  }

 private:
  SplitWeights k_;
  double eps_;
};

class AlphaBetaRule final : public RuleBase {
 public:
  AlphaBetaRule(const Layer& layer, const Options& params)
      : k_(layer), alpha_(params.get_float("alpha")), beta_(params.get_float("beta")), eps_(params.get_float("stabilizer")) {
    if (std::abs(alpha_ - beta_ - 1.0) > 1e-9)
      throw std::invalid_argument("alpha - beta must be 1 for a conservative rule (got alpha=" + std::to_string(alpha_) +
                                  ", beta=" + std::to_string(beta_) + ")");
  }

 protected:
  std::vector<at::Tensor> compute(const RuleContext& c, RuleDiagnostics& d) const override {
    const Layer& l = c.layer;
    const at::Tensor& x = c.inputs[0];
    if (non_negative(x)) {
      at::Tensor zp = affine_forward(l, x, k_.w_pos, k_.b_pos);
      at::Tensor zn = affine_forward(l, x, k_.w_neg, k_.b_neg);
      at::Tensor sp = stabilized_divide(c.relevance, zp, eps_, &d.near_zero_denominators);
      at::Tensor sn = stabilized_divide(c.relevance, zn, eps_, &d.near_zero_denominators);
      return {x * (alpha_ * affine_transpose(l, sp, x, k_.w_pos) - beta_ * affine_transpose(l, sn, x, k_.w_neg))};
    }
    at::Tensor xp = x.clamp_min(0), xn = x.clamp_max(0);
    at::Tensor zp = affine_forward(l, xp, k_.w_pos, k_.b_pos) + affine_forward(l, xn, k_.w_neg, {});
    at::Tensor zn = affine_forward(l, xp, k_.w_neg, k_.b_neg) + affine_forward(l, xn, k_.w_pos, {});
    at::Tensor sp = stabilized_divide(c.relevance, zp, eps_, &d.near_zero_denominators);
    at::Tensor sn = stabilized_divide(c.relevance, zn, eps_, &d.near_zero_denominators);
    at::Tensor positive = xp * affine_transpose(l, sp, x, k_.w_pos) + xn * affine_transpose(l, sp, x, k_.w_neg);
    at::Tensor negative = xp * affine_transpose(l, sn, x, k_.w_neg) + xn * affine_transpose(l, sn, x, k_.w_pos);
    return {alpha_ * positive - beta_ * negative};
  }

 private:
  SplitWeights k_;
  double alpha_, beta_, eps_;
};

// zennit's generalised Gamma rule (valid for signed inputs): W^ = W + g W+, W_ = W + g W-.
class GammaRule final : public RuleBase {
 public:
  GammaRule(const Layer& layer, const Options& params)
      : k_(layer), gamma_(params.get_float("gamma")), eps_(params.get_float("stabilizer")) {
    if (gamma_ < 0) throw std::invalid_argument("gamma must be >= 0");
    w_hat_ = k_.w + gamma_ * k_.w_pos;
    w_low_ = k_.w + gamma_ * k_.w_neg;
    b_hat_ = k_.b + gamma_ * k_.b_pos;
    b_low_ = k_.b + gamma_ * k_.b_neg;
  }

 protected:
  std::vector<at::Tensor> compute(const RuleContext& c, RuleDiagnostics& d) const override {
    const Layer& l = c.layer;
    const at::Tensor& x = c.inputs[0];
    const at::Tensor& z = c.output;
    if (non_negative(x)) {
      // With p = f(x; W+, b+): f(x; W^, b^) = z + g p (used where z > 0) and f(x; W_, b_) =
      // z + g (z - p) (where z < 0), and T(W^, sp) + T(W_, sn) = T(W, sp + (1 + g) sn) +
      // g T(W+, sp - sn): one extra forward and two transposed maps instead of two and four. sp and
      // sn never overlap, so one quotient s serves both: sp + (1 + g) sn = s * (1 or 1 + g),
      // sp - sn = s * (1 or -1).
      at::Tensor p = affine_forward(l, x, k_.w_pos, k_.b_pos);
      at::Tensor for_w, for_w_pos;  // sp + (1 + g) sn and sp - sn
      if (!fused_gamma_quotients(c.relevance, z, p, d, for_w, for_w_pos)) {
        at::Tensor positive = z > 0;
        at::Tensor den = z + gamma_ * at::where(positive, p, z - p);
        at::Tensor s = stabilized_divide(c.relevance, den, eps_, &d.near_zero_denominators).masked_fill_(z == 0, 0.0);
        for_w = at::where(positive, s, (1.0 + gamma_) * s);
        for_w_pos = at::where(positive, s, -s);
      }
      at::Tensor t = affine_transpose(l, for_w, x, k_.w);
      t.add_(affine_transpose(l, for_w_pos, x, k_.w_pos), gamma_);
      return {x * t};
    }
    at::Tensor xp = x.clamp_min(0), xn = x.clamp_max(0);
    at::Tensor den_pos = affine_forward(l, xp, w_hat_, b_hat_) + affine_forward(l, xn, w_low_, {});
    at::Tensor den_neg = affine_forward(l, xp, w_low_, b_low_) + affine_forward(l, xn, w_hat_, {});
    d.near_zero_denominators += count_near_zero(at::where(z > 0, den_pos, den_neg), eps_);
    at::Tensor sp = at::where(z > 0, c.relevance / stabilize(den_pos, eps_), at::zeros({}, z.options()));
    at::Tensor sn = at::where(z < 0, c.relevance / stabilize(den_neg, eps_), at::zeros({}, z.options()));
    at::Tensor for_pos = affine_transpose(l, sp, x, w_hat_) + affine_transpose(l, sn, x, w_low_);
    at::Tensor for_neg = affine_transpose(l, sp, x, w_low_) + affine_transpose(l, sn, x, w_hat_);
    return {xp * for_pos + xn * for_neg};
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

  SplitWeights k_;
  double gamma_, eps_;
  at::Tensor w_hat_, w_low_, b_hat_, b_low_;
};

// Flat (weights 1, bias 0, input 1) and WSquare (weights and bias squared, input 1): the relevance
// is spread by the receptive field only; it does not depend on the input values.
class InputFreeRule final : public RuleBase {
 public:
  enum class Mode { Flat, WSquare };
  InputFreeRule(const Layer& layer, const Options& params, Mode mode) : eps_(params.get_float("stabilizer")) {
    if (mode == Mode::Flat) {
      weight_ = at::ones_like(layer.weight);
    } else {
      weight_ = layer.weight * layer.weight;
      bias_ = layer.bias * layer.bias;
    }
  }

 protected:
  std::vector<at::Tensor> compute(const RuleContext& c, RuleDiagnostics& d) const override {
    const at::Tensor& x = c.inputs[0];
    // The denominator is the same for every sample: compute it on one and broadcast.
    at::Tensor den = affine_forward(c.layer, at::ones(one_sample_shape(x), x.options()), weight_, bias_);
    d.near_zero_denominators += count_near_zero(den, eps_) * x.size(0);
    at::Tensor s = c.relevance / stabilize(den, eps_);
    return {affine_transpose(c.layer, s, x, weight_)};
  }

 private:
  at::Tensor weight_, bias_;
  double eps_;
};


// ZBox (bounded inputs, low <= x <= high; low/high scalars or one value per input channel).
class ZBoxRule final : public RuleBase {
 public:
  ZBoxRule(const Layer& layer, const Options& params) : k_(layer), eps_(params.get_float("stabilizer")) {
    const int64_t channels = layer.kind == LayerKind::Conv2d ? layer.weight.size(1) * layer.groups : layer.weight.size(1);
    low_ = bound(params.get_float_list("low"), channels, "low", layer.kind);
    high_ = bound(params.get_float_list("high"), channels, "high", layer.kind);
    if ((low_ > high_).any().item<bool>()) throw std::invalid_argument("low must not exceed high");
  }

 protected:
  std::vector<at::Tensor> compute(const RuleContext& c, RuleDiagnostics& d) const override {
    const Layer& l = c.layer;
    const at::Tensor& x = c.inputs[0];
    // Bound images of one sample (zero padding applies to them as to x), broadcast over the batch.
    at::Tensor low = low_.to(x.options()).expand(one_sample_shape(x));
    at::Tensor high = high_.to(x.options()).expand(one_sample_shape(x));
    at::Tensor zb = c.output - affine_forward(l, low, k_.w_pos, k_.b_pos) - affine_forward(l, high, k_.w_neg, k_.b_neg);
    at::Tensor s = stabilized_divide(c.relevance, zb, eps_, &d.near_zero_denominators);
    // x T(W, s) - l T(W+, s) - h T(W-, s) with T(W-, s) = T(W, s) - T(W+, s).
    return {(x - high) * affine_transpose(l, s, x, k_.w) + (high - low) * affine_transpose(l, s, x, k_.w_pos)};
  }

 private:
  static at::Tensor bound(const std::vector<double>& values, int64_t channels, const char* name, LayerKind kind) {
    if (values.size() != 1 && static_cast<int64_t>(values.size()) != channels)
      throw std::invalid_argument(std::string(name) + " needs 1 value or one per input channel (" +
                                  std::to_string(channels) + "), got " + std::to_string(values.size()));
    at::Tensor t = at::tensor(values, at::kFloat);
    if (values.size() == 1) return kind == LayerKind::Conv2d ? t.view({1, 1, 1, 1}) : t.view({1, 1});
    return kind == LayerKind::Conv2d ? t.view({1, channels, 1, 1}) : t.view({1, channels});
  }
  SplitWeights k_;
  double eps_;
  at::Tensor low_, high_;
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

enum class Default { No, ForEveryKindItAppliesTo };

std::shared_ptr<const RuleTypeInfo> make(std::string name, std::string description, std::vector<OptionSpec> params,
                                         std::vector<LayerKind> applies_to, RuleFactory prepare,
                                         Default is_default = Default::No) {
  auto info = std::make_shared<RuleTypeInfo>();
  info->name = std::move(name);
  info->description = std::move(description);
  info->params = std::move(params);
  info->applies_to = std::move(applies_to);
  if (is_default == Default::ForEveryKindItAppliesTo) info->default_for = info->applies_to;
  info->prepare = std::move(prepare);
  return info;
}

template <InputFreeRule::Mode M>
RuleFactory input_free_factory() {
  return [](const Layer& layer, const Options& params) -> Result<std::shared_ptr<const PreparedRule>> {
    try {
      return std::shared_ptr<const PreparedRule>(std::make_shared<InputFreeRule>(layer, params, M));
    } catch (const std::exception& e) {
      return Status::error(exception_message(e));
    }
  };
}

}  // namespace

const std::vector<std::shared_ptr<const RuleTypeInfo>>& builtin_rule_types() {
  static const std::vector<std::shared_ptr<const RuleTypeInfo>> types = {
      make("epsilon", "LRP-epsilon: R_in = x * T(W, R / stab_eps(z)); epsilon = 0 is LRP-0",
           {float_param("epsilon", 1e-6, "stabiliser added to z with its sign")}, kAffine, factory<EpsilonRule>()),
      make("zplus", "LRP-z+: positive contributions only (zennit ZPlus, signed inputs: x+ W+ and x- W-)",
           {float_param("stabilizer", 1e-6, kStabilizerHelp)}, kAffine, factory<ZPlusRule>()),
      make("alphabeta", "LRP-alpha-beta: alpha * positive share - beta * negative share (alpha - beta = 1)",
           {float_param("alpha", 2.0, "weight of the positive contributions"),
            float_param("beta", 1.0, "weight of the negative contributions"),
            float_param("stabilizer", 1e-6, kStabilizerHelp)},
           kAffine, factory<AlphaBetaRule>()),
      make("gamma", "LRP-gamma, zennit's generalised form for signed inputs: favours positive contributions by gamma",
           {float_param("gamma", 0.25, "weight added to the positive (or matching-sign) contributions"),
            float_param("stabilizer", 1e-6, kStabilizerHelp)},
           kAffine, factory<GammaRule>()),
      make("flat", "Flat: relevance spread uniformly over the receptive field (weights and input set to 1, bias 0)",
           {float_param("stabilizer", 1e-6, kStabilizerHelp)}, kAffine, input_free_factory<InputFreeRule::Mode::Flat>()),
      make("wsquare", "WSquare: relevance spread in proportion to squared weights (input set to 1, bias squared)",
           {float_param("stabilizer", 1e-6, kStabilizerHelp)}, kAffine, input_free_factory<InputFreeRule::Mode::WSquare>()),
      make("zbox", "ZBox (z^B) for inputs bounded by low <= x <= high (first layer on images)",
           {float_list_param("low", -3.0, "lower bound: one value or one per input channel"),
            float_list_param("high", 3.0, "upper bound: one value or one per input channel"),
            float_param("stabilizer", 1e-6, kStabilizerHelp)},
           kAffine, factory<ZBoxRule>()),
      make("pass", "Pass: relevance unchanged (ReLU, Dropout, BatchNorm), reshaped (Flatten, Reshape) or split (Cat)", {},
           {LayerKind::ReLU, LayerKind::Dropout, LayerKind::Flatten, LayerKind::Reshape, LayerKind::BatchNorm,
            LayerKind::Cat},
           factory<PassRule>(), Default::ForEveryKindItAppliesTo),
      make("norm", "Norm: relevance in proportion to each input's share of a sum or average (Add, average pools)",
           {float_param("stabilizer", 1e-6, kStabilizerHelp)},
           {LayerKind::Add, LayerKind::AvgPool2d, LayerKind::AdaptiveAvgPool2d}, factory<NormRule>(),
           Default::ForEveryKindItAppliesTo),
      make("wta", "Winner-take-all max pooling: each window's relevance goes to its arg-max (the plain gradient)", {},
           {LayerKind::MaxPool2d}, factory<WinnerTakeAllRule>(), Default::ForEveryKindItAppliesTo),
  };
  return types;
}

std::vector<const RuleTypeInfo*> builtin_rule_catalog() {
  std::vector<const RuleTypeInfo*> out;
  for (const auto& t : builtin_rule_types()) out.push_back(t.get());
  return out;
}

}  // namespace lrpflow::lrp
