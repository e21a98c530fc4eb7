// LRP rules: how relevance at a layer's output is handed down to its inputs.
//
// A rule type (RuleTypeInfo) is provided by a plugin (the built-in ones by plugins/lrp_rules) and
// found by name through the PluginRegistry. Its lifecycle has two steps:
//   1. prepare(layer, params)  once per (model layer, parameter set), when a rule set is bound to a
//                              model: validate the parameters against the layer and precompute what
//                              depends only on the weights (W+, W-, gamma-modified kernels, ...).
//   2. apply(ctx, diagnostics) once per batch and layer, during the backward pass, with the layer's
//                              forward inputs, its forward output z (pre-activation for
//                              Conv2d/Linear) and the relevance at its output.
// A PreparedRule is immutable after prepare(): apply() is const, may run on several threads at
// once and must not keep per-call state. Rules use the layer's own kernels (kernels.h), not
// autograd hooks.
//
// The stabiliser is zennit's: stab(z) = z + eps * sign(z) with sign(0) = +1 (kernels.h: stabilize).
//
// Errors are values: apply() and prepare() never throw across the plugin boundary. Rule
// implementations derive from RuleBase, whose apply() turns exceptions into a Status.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include <ATen/core/Tensor.h>

#include "lrpflow/lrp/graph.h"
#include "lrpflow/options.h"
#include "lrpflow/plugin_api.h"
#include "lrpflow/status.h"

namespace lrpflow {
class PluginRegistry;
}

namespace lrpflow::lrp {

// What a rule sees of one layer in one backward pass.
struct RuleContext {
  const Layer& layer;
  const std::vector<at::Tensor>& inputs;  // the layer's forward inputs (one per Layer::inputs entry)
  const at::Tensor& output;               // the layer's forward output z
  const at::Tensor& relevance;            // relevance at the layer's output (shape of `output`)
  const at::Tensor* pool_indices;         // MaxPool2d: argmax indices of the forward pass; else null
};

struct RuleDiagnostics {
  // Denominator entries with |z| below the stabiliser (where the stabiliser, not the layer, decides).
  std::int64_t near_zero_denominators = 0;
};

class PreparedRule {
 public:
  virtual ~PreparedRule() = default;
  // Relevance at each input of the layer, same shapes as ctx.inputs.
  virtual Result<std::vector<at::Tensor>> apply(const RuleContext& ctx, RuleDiagnostics& diagnostics) const noexcept = 0;
};

// Convenience base for rule implementations: compute() may throw, apply() turns exceptions into
// an error Status. Defined inline so that the try/catch is compiled into the plugin.
class RuleBase : public PreparedRule {
 public:
  Result<std::vector<at::Tensor>> apply(const RuleContext& ctx, RuleDiagnostics& diagnostics) const noexcept final {
    try {
      return compute(ctx, diagnostics);
    } catch (const std::exception& e) {
      std::string message = exception_message(e);
      return Status::error(message.substr(0, message.find('\n')));
    } catch (...) {
      return Status::error("unknown exception in rule");
    }
  }

 protected:
  virtual std::vector<at::Tensor> compute(const RuleContext& ctx, RuleDiagnostics& diagnostics) const = 0;
};

using RuleFactory = std::function<Result<std::shared_ptr<const PreparedRule>>(const Layer& layer, const Options& params)>;

struct RuleTypeInfo {
  std::string name;                  // as written in rule sets, e.g. "epsilon"
  std::string description;           // one line
  std::vector<OptionSpec> params;    // e.g. epsilon (Float, default 1e-6)
  std::vector<LayerKind> applies_to; // layer kinds the rule can be bound to
  // Layer kinds this rule handles when no rule set entry matches a layer (pass for ReLU, wta for
  // MaxPool2d, ...): a subset of applies_to. At most one rule type may claim a kind.
  std::vector<LayerKind> default_for;
  RuleFactory prepare;               // must not throw (wrap the body in try/catch)
};

// Builds a RuleTypeInfo whose prepare() calls `make(layer, params)` (which returns a
// shared_ptr to a PreparedRule, or throws) behind the exception guard, as make_stage_type() does
// for stages; apply() is guarded by RuleBase. Inline, so that the guard is compiled into the plugin.
template <typename Make>
std::shared_ptr<const RuleTypeInfo> make_rule_type(std::string name, std::string description, std::vector<OptionSpec> params,
                                                   std::vector<LayerKind> applies_to, Make make) {
  auto info = std::make_shared<RuleTypeInfo>();
  info->name = std::move(name);
  info->description = std::move(description);
  info->params = std::move(params);
  info->applies_to = std::move(applies_to);
  info->prepare = [make = std::move(make)](const Layer& layer, const Options& options) noexcept
      -> Result<std::shared_ptr<const PreparedRule>> {
    try {
      return std::shared_ptr<const PreparedRule>(make(layer, options));
    } catch (const std::exception& e) {
      return Status::error(exception_message(e));
    } catch (...) {
      return Status::error("unknown exception while preparing the rule");
    }
  };
  return info;
}
// The same for a rule class constructed as Rule(layer, params).
template <typename Rule>
std::shared_ptr<const RuleTypeInfo> make_rule_type(std::string name, std::string description, std::vector<OptionSpec> params,
                                                   std::vector<LayerKind> applies_to) {
  static_assert(std::is_base_of<PreparedRule, Rule>::value, "rules derive from lrpflow::lrp::PreparedRule (RuleBase)");
  return make_rule_type(std::move(name), std::move(description), std::move(params), std::move(applies_to),
                        [](const Layer& layer, const Options& options) { return std::make_shared<Rule>(layer, options); });
}

// Rule types travel in plugin descriptors as extensions of this kind; the registry keeps them.
inline constexpr const char* kRuleExtensionKind = "lrp.rule";
ExtensionTypeInfo rule_extension(std::shared_ptr<const RuleTypeInfo> rule);
const RuleTypeInfo* find_rule_type(const PluginRegistry& registry, const std::string& name);
std::vector<const RuleTypeInfo*> rule_types(const PluginRegistry& registry);  // sorted by name
std::vector<std::string> rule_type_names(const PluginRegistry& registry);

}  // namespace lrpflow::lrp
