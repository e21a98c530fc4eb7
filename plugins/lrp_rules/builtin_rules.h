// The built-in LRP rules (epsilon, zplus, alphabeta, gamma, flat, wsquare, zbox, pass, norm, wta).
//
// Compiled into a static library that the lrp_rules plugin registers and that tests link directly
// (so that rule tests need no plugin loading).
#pragma once

#include <memory>
#include <vector>

#include "lrpflow/lrp/rule.h"

namespace lrpflow::lrp {

const std::vector<std::shared_ptr<const RuleTypeInfo>>& builtin_rule_types();
// Plain pointers to the same, the form RuleSet::bind takes.
std::vector<const RuleTypeInfo*> builtin_rule_catalog();

}  // namespace lrpflow::lrp
