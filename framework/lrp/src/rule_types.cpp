// Rule types as registry extensions: the core keeps them untyped, this file is the one place that
// casts them back.
#include "lrpflow/lrp/rule.h"

#include "lrpflow/registry.h"

namespace lrpflow::lrp {

ExtensionTypeInfo rule_extension(std::shared_ptr<const RuleTypeInfo> rule) {
  std::string name = rule ? rule->name : std::string();
  return ExtensionTypeInfo{kRuleExtensionKind, std::move(name), std::move(rule)};
}

const RuleTypeInfo* find_rule_type(const PluginRegistry& registry, const std::string& name) {
  return static_cast<const RuleTypeInfo*>(registry.find_extension(kRuleExtensionKind, name));
}

std::vector<const RuleTypeInfo*> rule_types(const PluginRegistry& registry) {
  std::vector<const RuleTypeInfo*> out;
  for (const ExtensionTypeInfo* extension : registry.extensions(kRuleExtensionKind))
    out.push_back(static_cast<const RuleTypeInfo*>(extension->info.get()));
  return out;
}

std::vector<std::string> rule_type_names(const PluginRegistry& registry) {
  std::vector<std::string> out;
  for (const ExtensionTypeInfo* extension : registry.extensions(kRuleExtensionKind)) out.push_back(extension->name);
  return out;
}

}  // namespace lrpflow::lrp
