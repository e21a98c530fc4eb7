// Affine LRP rules as data: a rule for Conv2d/Linear is a list of terms run by one executor
// (the composition zennit's core.py builds from input, parameter and output modifiers).
//
// A term is f(input part; modified W, modified b). Terms form groups; each group g has the
// denominator d_g = sum of its terms (with their signs), an optional output-sign mask and a
// coefficient c_g. The relevance at the input is
//
//   R_in = sum_g c_g * sum_{t in g} sign_t * input_t * T(W_t, mask_g * R / stab(d_g))
//
// Written that way:
//   epsilon    one group, one term: the layer itself (its denominator is the forward output z)
//   zplus      one group: (x+, W+, b+), (x-, W-)
//   alphabeta  alpha on (x+, W+, b+), (x-, W-); -beta on (x+, W-, b-), (x-, W+)
//   gamma      z > 0: (x+, W + gW+, b + gb+), (x-, W + gW-); z < 0: the same, swapped
//   flat       (1, 1, none); wsquare (1, W^2, b^2)
//   zbox       (x, W, b), -(low, W+, b+), -(high, W-, b-)
//
// The executor drops the x- terms and reads x+ as x when the input is non-negative (every layer
// after a ReLU), computes the denominators of constant inputs (1, bounds) on one sample, and
// transposes once per distinct (input part, weight) pair. An AffineRuleSpec is immutable once
// prepared; AffineRule::apply() is const and may run on several threads at once.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "lrpflow/lrp/rule.h"

namespace lrpflow::lrp {

enum class InputPart {
  Input,     // x
  Positive,  // x+ = max(x, 0)
  Negative,  // x- = min(x, 0); dropped when x >= 0
  Ones,      // 1 (the rule does not look at the input)
  Constant,  // AffineTerm::constant, broadcast over one sample (zbox's bounds)
};

struct AffineTerm {
  InputPart input = InputPart::Input;
  at::Tensor constant;  // InputPart::Constant only: broadcastable to one sample ([1, C, 1, 1] or [1, C])
  at::Tensor weight;
  at::Tensor bias;      // may be undefined
  double sign = 1.0;    // in the denominator and in the numerator
  // The term is the layer itself (x, W, b): its value is the forward output, no extra forward.
  bool is_layer_output = false;

  static AffineTerm layer_itself(const Layer& layer);
  static AffineTerm of(InputPart input, at::Tensor weight, at::Tensor bias = {}, double sign = 1.0);
  static AffineTerm of_constant(at::Tensor constant, at::Tensor weight, at::Tensor bias = {}, double sign = 1.0);
};

enum class OutputSign { Any, Positive, Negative };  // where a group's share applies (by z's sign)

struct AffineGroup {
  std::vector<AffineTerm> terms;
  double coefficient = 1.0;
  OutputSign where = OutputSign::Any;
};

struct AffineRuleSpec {
  std::vector<AffineGroup> groups;
  double stabilizer = 1e-6;  // zennit's stab(d) = d + eps * sign(d)
};

// W+ and W- (and b+, b-) of a layer, the parts most rules are made of.
struct SignedParts {
  explicit SignedParts(const Layer& layer);
  at::Tensor w, b, w_pos, w_neg, b_pos, b_neg;
};

// The executor. Rules with a faster special case (gamma's fused non-negative path) derive from it
// and call run() for the rest.
class AffineRule : public RuleBase {
 public:
  explicit AffineRule(AffineRuleSpec spec);
  const AffineRuleSpec& spec() const { return spec_; }

 protected:
  std::vector<at::Tensor> compute(const RuleContext& ctx, RuleDiagnostics& diagnostics) const override;
  std::vector<at::Tensor> run(const RuleContext& ctx, RuleDiagnostics& diagnostics, bool non_negative_input) const;
  static bool is_non_negative(const at::Tensor& x);

 private:
  AffineRuleSpec spec_;
  bool splits_by_sign_ = false;  // some term uses x+ or x-: worth testing the input's sign
};

// A rule type for Conv2d and Linear whose prepare() builds the spec; `build` may throw (the
// message becomes the binding error). Inline, so that the guard is compiled into the plugin.
using AffineSpecBuilder = std::function<AffineRuleSpec(const Layer& layer, const Options& params)>;
inline std::shared_ptr<const RuleTypeInfo> make_affine_rule_type(std::string name, std::string description,
                                                                 std::vector<OptionSpec> params, AffineSpecBuilder build) {
  return make_rule_type(std::move(name), std::move(description), std::move(params), {LayerKind::Conv2d, LayerKind::Linear},
                        [build = std::move(build)](const Layer& layer, const Options& options) {
                          return std::make_shared<AffineRule>(build(layer, options));
                        });
}

}  // namespace lrpflow::lrp
