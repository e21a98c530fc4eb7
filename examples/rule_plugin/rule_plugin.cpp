// rule_plugin: an LRP rule type from a plugin. `example_epsilon` is LRP-epsilon written against
// the public kernels (lrpflow/lrp/kernels.h):
//
//   R_in = x * T(W, R / stab_eps(z)),   stab_eps(z) = z + eps * sign(z)
//
// A rule set names it like any built-in rule (examples/rule_plugin/example_epsilon.yaml):
//
//   rules:
//     - match: {kind: [Conv2d, Linear]}
//       rule: example_epsilon
//       params: {epsilon: 0.25}
//
// It computes exactly what the built-in `epsilon` rule does, which is how the install test checks
// it: both give the same relevance, bit for bit. docs/writing-plugins.md explains each part.
#include <memory>
#include <stdexcept>

#include <lrpflow/lrp/kernels.h>
#include <lrpflow/lrp/rule.h>
#include <lrpflow/plugin_api.h>

namespace {

// A prepared rule: made once per layer when a rule set is bound to a model, then used for every
// item by any number of threads at once. So: everything that depends only on the layer and the
// parameters is computed here, and compute() keeps no state.
class ExampleEpsilon final : public lrpflow::lrp::RuleBase {
 public:
  // Throwing here is fine: the factory below turns it into the binding error (with the rule set's
  // file and line).
  ExampleEpsilon(const lrpflow::lrp::Layer& layer, const lrpflow::Options& params)
      : weight_(layer.weight), epsilon_(params.get_float("epsilon")) {
    if (!(epsilon_ >= 0)) throw std::invalid_argument("epsilon must be >= 0");
  }

 protected:
  // One layer of one backward pass: ctx.inputs are the layer's forward inputs, ctx.output its
  // output z, ctx.relevance the relevance at that output. Return the relevance at each input.
  // RuleBase::apply() catches what compute() throws (a LibTorch error) and makes it a Status.
  std::vector<at::Tensor> compute(const lrpflow::lrp::RuleContext& ctx,
                                  lrpflow::lrp::RuleDiagnostics& diagnostics) const override {
    const at::Tensor& x = ctx.inputs[0];
    // R / stab_eps(z), counting the denominators the stabiliser decides (a diagnostic metric).
    const at::Tensor s = lrpflow::lrp::stabilized_divide(ctx.relevance, ctx.output, epsilon_,
                                                        &diagnostics.near_zero_denominators);
    // T(W, s): the transposed convolution / matrix product of this layer.
    return {x.mul(lrpflow::lrp::affine_transpose(ctx.layer, s, x, weight_))};
  }

 private:
  at::Tensor weight_;
  double epsilon_;
};

std::shared_ptr<const lrpflow::lrp::RuleTypeInfo> example_epsilon_type() {
  auto info = std::make_shared<lrpflow::lrp::RuleTypeInfo>();
  info->name = "example_epsilon";  // what rule sets write after `rule:`
  info->description = "LRP-epsilon from the example plugin: R_in = x * T(W, R / stab_eps(z))";
  // Parameters are checked against this schema when the rule set is bound (unknown names, types).
  lrpflow::OptionSpec epsilon;
  epsilon.name = "epsilon";
  epsilon.type = lrpflow::OptionType::Float;
  epsilon.default_value = 1e-6;
  epsilon.help = "stabiliser added to z with its sign";
  info->params = {epsilon};
  // Binding the rule to any other layer kind is an error naming the rule set entry.
  info->applies_to = {lrpflow::lrp::LayerKind::Conv2d, lrpflow::lrp::LayerKind::Linear};
  // prepare() must not throw across the plugin boundary.
  info->prepare = [](const lrpflow::lrp::Layer& layer, const lrpflow::Options& params)
      -> lrpflow::Result<std::shared_ptr<const lrpflow::lrp::PreparedRule>> {
    try {
      return std::shared_ptr<const lrpflow::lrp::PreparedRule>(std::make_shared<ExampleEpsilon>(layer, params));
    } catch (const std::exception& e) {
      return lrpflow::Status::error(e.what());
    }
  };
  return info;
}

const lrpflow::PluginDescriptor& describe() {
  static const lrpflow::PluginDescriptor descriptor{
      "rule_plugin", "1.0.0", /*stages=*/{}, /*resources=*/{}, /*extensions=*/{lrpflow::lrp::rule_extension(example_epsilon_type())}};
  return descriptor;
}

}  // namespace

LRPFLOW_PLUGIN("rule_plugin", "1.0.0", describe)
