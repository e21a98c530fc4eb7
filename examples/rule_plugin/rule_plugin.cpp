// rule_plugin: an LRP rule type from a plugin. `example_epsilon` is LRP-epsilon written as terms
// for lrpflow's affine-rule executor (lrpflow/lrp/affine_rule.h):
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

#include <lrpflow/lrp/affine_rule.h>
#include <lrpflow/plugin_api.h>

namespace {

// An affine rule (Conv2d, Linear) is a list of terms f(input part; W', b') that lrpflow's shared
// executor runs (lrpflow/lrp/affine_rule.h): the denominator is their sum, each term's share goes
// back through its transposed map. LRP-epsilon has one term, the layer itself, whose value is the
// forward output z. The builder runs once per layer when a rule set is bound to a model; throwing
// there is fine: it becomes the binding error, with the rule set's file and line.
lrpflow::lrp::AffineRuleSpec example_epsilon_terms(const lrpflow::lrp::Layer& layer, const lrpflow::Options& params) {
  const double epsilon = params.get_float("epsilon");
  if (!(epsilon >= 0)) throw std::invalid_argument("epsilon must be >= 0");
  return {{lrpflow::lrp::AffineGroup{{lrpflow::lrp::AffineTerm::layer_itself(layer)}}}, /*stabilizer=*/epsilon};
}

std::shared_ptr<const lrpflow::lrp::RuleTypeInfo> example_epsilon_type() {
  // Parameters are checked against this schema when the rule set is bound (unknown names, types).
  lrpflow::OptionSpec epsilon;
  epsilon.name = "epsilon";
  epsilon.type = lrpflow::OptionType::Float;
  epsilon.default_value = 1e-6;
  epsilon.help = "stabiliser added to z with its sign";
  // "example_epsilon" is what rule sets write after `rule:`. The rule applies to Conv2d and Linear;
  // binding it to any other kind is an error naming the rule set entry. A rule that is not affine
  // derives from lrpflow::lrp::RuleBase and is registered with make_rule_type<Rule>().
  return lrpflow::lrp::make_affine_rule_type(
      "example_epsilon", "LRP-epsilon from the example plugin: R_in = x * T(W, R / stab_eps(z))", {epsilon},
      example_epsilon_terms);
}

const lrpflow::PluginDescriptor& describe() {
  static const lrpflow::PluginDescriptor descriptor{
      "rule_plugin", "1.0.0", /*stages=*/{}, /*resources=*/{}, /*extensions=*/{lrpflow::lrp::rule_extension(example_epsilon_type())}};
  return descriptor;
}

}  // namespace

LRPFLOW_PLUGIN("rule_plugin", "1.0.0", describe)
