#include "lrpflow/lrp/affine_rule.h"

#include <limits>

#include <ATen/ATen.h>

#include "lrpflow/lrp/kernels.h"

namespace lrpflow::lrp {

AffineTerm AffineTerm::layer_itself(const Layer& layer) {
  AffineTerm term = of(InputPart::Input, layer.weight, layer.bias);
  term.is_layer_output = true;
  return term;
}

AffineTerm AffineTerm::of(InputPart input, at::Tensor weight, at::Tensor bias, double sign) {
  AffineTerm term;
  term.input = input;
  term.weight = std::move(weight);
  term.bias = std::move(bias);
  term.sign = sign;
  return term;
}

AffineTerm AffineTerm::of_constant(at::Tensor constant, at::Tensor weight, at::Tensor bias, double sign) {
  AffineTerm term = of(InputPart::Constant, std::move(weight), std::move(bias), sign);
  term.constant = std::move(constant);
  return term;
}

SignedParts::SignedParts(const Layer& layer)
    : w(layer.weight),
      b(layer.bias),
      w_pos(layer.weight.clamp_min(0)),
      w_neg(layer.weight.clamp_max(0)),
      b_pos(layer.bias.defined() ? layer.bias.clamp_min(0) : at::Tensor()),
      b_neg(layer.bias.defined() ? layer.bias.clamp_max(0) : at::Tensor()) {}

AffineRule::AffineRule(AffineRuleSpec spec) : spec_(std::move(spec)) {
  for (AffineGroup& group : spec_.groups)
    for (AffineTerm& term : group.terms) {
      splits_by_sign_ = splits_by_sign_ || term.input == InputPart::Positive || term.input == InputPart::Negative;
      // f(s c; W, s b) = s f(c; W, b): a constant input carries its sign, so that no per-call
      // multiplication of layer-sized tensors is needed for it.
      if (term.input == InputPart::Constant && term.sign != 1.0) {
        term.constant = term.constant * term.sign;
        if (term.bias.defined()) term.bias = term.bias * term.sign;
        term.sign = 1.0;
      }
    }
}

bool AffineRule::is_non_negative(const at::Tensor& x) { return x.numel() == 0 || x.min().item<float>() >= 0.0f; }

std::vector<at::Tensor> AffineRule::compute(const RuleContext& ctx, RuleDiagnostics& diagnostics) const {
  // Without sign-split terms both paths are the same: skip the pass over the input.
  return run(ctx, diagnostics, splits_by_sign_ && is_non_negative(ctx.inputs[0]));
}

namespace {

bool per_sample_constant(InputPart part) { return part == InputPart::Ones || part == InputPart::Constant; }

// A term's input part as it applies to x (after the non-negative simplification).
InputPart effective_part(InputPart part, bool non_negative_input) {
  return non_negative_input && part == InputPart::Positive ? InputPart::Input : part;
}

// Batch-1 shape of one sample of x.
std::vector<int64_t> one_sample_shape(const at::Tensor& x) {
  std::vector<int64_t> shape(x.sizes().begin(), x.sizes().end());
  shape[0] = 1;
  return shape;
}

// The input tensors of the parts, each made once per call (for Ones: undefined, the numerator
// skips the product).
class InputParts {
 public:
  explicit InputParts(const at::Tensor& x) : x_(x) {}
  at::Tensor get(InputPart part, const AffineTerm& term) {
    switch (part) {
      case InputPart::Input: return x_;
      case InputPart::Positive: return positive_.defined() ? positive_ : (positive_ = x_.clamp_min(0));
      case InputPart::Negative: return negative_.defined() ? negative_ : (negative_ = x_.clamp_max(0));
      case InputPart::Ones: return {};
      case InputPart::Constant: return term.constant.to(x_.options()).expand(one_sample_shape(x_));
    }
    return {};
  }

 private:
  const at::Tensor& x_;
  at::Tensor positive_, negative_;
};

// What one transposed map gets: the sum of the shares of the terms with this input and weight.
struct Transpose {
  InputPart part;
  const AffineTerm* term;  // the first term with this (part, weight): provides the input and weight
  at::Tensor share;
};

void add_share(std::vector<Transpose>& transposes, InputPart part, const AffineTerm& term, const at::Tensor& share) {
  for (auto& t : transposes) {
    const bool same_input = t.part == part && (part != InputPart::Constant || t.term->constant.is_same(term.constant));
    if (same_input && t.term->weight.is_same(term.weight)) {
      t.share = t.share + share;
      return;
    }
  }
  transposes.push_back({part, &term, share});
}

}  // namespace

std::vector<at::Tensor> AffineRule::run(const RuleContext& ctx, RuleDiagnostics& diagnostics, bool non_negative_input) const {
  const Layer& layer = ctx.layer;
  const at::Tensor& x = ctx.inputs[0];
  const at::Tensor& z = ctx.output;
  const double eps = spec_.stabilizer;

  InputParts parts(x);
  std::vector<Transpose> transposes;
  for (const AffineGroup& group : spec_.groups) {
    // The denominator: the sum of the group's terms. Terms of a constant input are the same for
    // every sample, so they are computed on one sample and broadcast.
    at::Tensor den;
    bool den_is_per_sample = false;
    std::vector<std::pair<InputPart, const AffineTerm*>> kept;
    for (const AffineTerm& term : group.terms) {
      if (non_negative_input && term.input == InputPart::Negative) continue;  // x- = 0
      const InputPart part = effective_part(term.input, non_negative_input);
      kept.emplace_back(part, &term);
      at::Tensor value;
      if (term.is_layer_output) {
        value = z;
      } else if (per_sample_constant(part)) {
        at::Tensor input = part == InputPart::Ones ? at::ones(one_sample_shape(x), x.options()) : parts.get(part, term);
        value = affine_forward(layer, input, term.weight, term.bias);
      } else {
        value = affine_forward(layer, parts.get(part, term), term.weight, term.bias);
      }
      den_is_per_sample = den_is_per_sample || !per_sample_constant(part);
      if (term.sign != 1.0) value = value * term.sign;
      den = den.defined() ? den + value : value;
    }
    if (kept.empty()) continue;

    at::Tensor share;
    if (group.where == OutputSign::Any) {
      if (den_is_per_sample) {
        share = stabilized_divide(ctx.relevance, den, eps, &diagnostics.near_zero_denominators);
      } else {
        diagnostics.near_zero_denominators += count_near_zero(den, eps) * x.size(0);
        share = ctx.relevance / stabilize(den, eps);
      }
    } else {
      const at::Tensor mask = group.where == OutputSign::Positive ? z > 0 : z < 0;
      const at::Tensor den_full = den.expand_as(z);
      diagnostics.near_zero_denominators +=
          count_near_zero(den_full.masked_fill(mask.logical_not(), std::numeric_limits<float>::infinity()), eps);
      share = at::where(mask, ctx.relevance / stabilize(den_full, eps), at::zeros({}, z.options()));
    }
    for (const auto& [part, term] : kept) {
      const double factor = group.coefficient * term->sign;
      add_share(transposes, part, *term, factor == 1.0 ? share : share * factor);
    }
  }

  // Sum over the transposes, multiplied by their input parts; the products with the same input
  // are summed before one multiplication.
  std::vector<std::pair<std::pair<InputPart, const AffineTerm*>, at::Tensor>> by_input;
  for (const Transpose& t : transposes) {
    at::Tensor mapped = affine_transpose(layer, t.share, x, t.term->weight);
    bool merged = false;
    for (auto& [key, sum] : by_input) {
      const bool same = key.first == t.part && (t.part != InputPart::Constant || key.second->constant.is_same(t.term->constant));
      if (same) {
        sum.add_(mapped);
        merged = true;
        break;
      }
    }
    if (!merged) by_input.push_back({{t.part, t.term}, mapped});
  }
  at::Tensor result;
  for (auto& [key, sum] : by_input) {
    at::Tensor input = parts.get(key.first, *key.second);
    at::Tensor contribution = input.defined() ? sum.mul_(input) : sum;
    if (contribution.sizes() != x.sizes()) contribution = contribution.expand_as(x).contiguous();
    result = result.defined() ? result.add_(contribution) : contribution;
  }
  if (!result.defined()) result = at::zeros_like(x);
  return {result};
}

}  // namespace lrpflow::lrp
