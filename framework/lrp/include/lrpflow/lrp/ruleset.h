// Rule sets: which LRP rule (with which parameters) applies to which layer of a model.
//
// A rule set is a YAML file (configs/rulesets/<name>.yaml, format in docs/rulesets.md):
//
//   name: epsilon_plus_flat
//   description: zennit EpsilonPlusFlat
//   rules:                               # first matching entry wins
//     - match: {position: first}         # first Conv2d/Linear in forward order
//       rule: flat
//     - match: {kind: Conv2d}
//       rule: zplus
//     - match: {kind: Linear}
//       rule: epsilon
//       params: {epsilon: 1.0e-6}
//
// Match keys (all given keys must hold): kind (one or a list of layer kinds), name (a glob on the
// module path, e.g. "features.*"), position (first | last) and index ([from, to], inclusive,
// negative from the end); position and index count among the layers that match `kind`
// (Conv2d/Linear when no kind is given). Layers no entry matches get the defaults: ReLU, Dropout,
// Flatten, Reshape, BatchNorm, Cat -> pass; MaxPool2d -> wta; AvgPool2d, AdaptiveAvgPool2d, Add
// -> norm. A Conv2d/Linear without a rule is an error.
//
// Lifecycle: parse (RuleSetSpec, model independent) -> optional parameter overrides
// ("epsilon.epsilon=0.25") -> bind to a model (RuleSet): every rule is looked up, its parameters
// checked against the rule's schema and the rule PREPARED for its layer once. A bound RuleSet is
// immutable and may be used by any number of threads.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "lrpflow/lrp/graph.h"
#include "lrpflow/lrp/rule.h"
#include "lrpflow/options.h"
#include "lrpflow/resource.h"
#include "lrpflow/status.h"

namespace lrpflow::lrp {

struct LayerMatcher {
  enum class Position { Any, First, Last };
  std::vector<LayerKind> kinds;   // empty: any kind (Conv2d/Linear for position/index counting)
  std::string name_glob;          // empty: any name
  Position position = Position::Any;
  std::optional<std::pair<std::int64_t, std::int64_t>> index_range;
  std::string describe() const;   // "{kind: Conv2d, position: first}"
};

struct RuleAssignment {
  LayerMatcher match;
  std::string rule;
  std::map<std::string, std::string> params;  // parameter -> value as YAML text ("0.25", "[-3, -2]")
  std::string where;                          // file:line of the entry
};

struct RuleSetSpec {
  std::string name;
  std::string description;
  std::string source;  // file it came from, for errors
  std::vector<RuleAssignment> rules;
  // Overrides applied to every use of a rule: rule -> parameter -> YAML text.
  std::map<std::string, std::map<std::string, std::string>> overrides;
};

Result<RuleSetSpec> parse_ruleset(const std::string& yaml_text, const std::string& source);
Result<RuleSetSpec> load_ruleset_file(const std::filesystem::path& path);
// Directories searched for "<name>.yaml": `extra`, LRPFLOW_RULESET_PATH (colon-separated), then
// the shipped configs/rulesets (the source tree's for a build-tree binary, <prefix>/share/lrpflow's
// for an installed one; locations.h).
std::vector<std::filesystem::path> ruleset_search_path(const std::vector<std::filesystem::path>& extra = {});
// A rule set that can be named: the file a name finds (the first in the search path) and the
// files of the same name it hides further down.
struct NamedRuleSet {
  std::string name;
  std::filesystem::path file;
  std::vector<std::filesystem::path> hidden;
};
// Every name find_ruleset() resolves, sorted by name.
std::vector<NamedRuleSet> named_rulesets(const std::vector<std::filesystem::path>& extra = {});
// A file path (contains '/' or ends in .yaml) or a rule set name looked up in the search path.
Result<RuleSetSpec> find_ruleset(const std::string& name_or_path, const std::vector<std::filesystem::path>& extra = {});
// "rule.param=value" (value in YAML syntax: 0.25, [-3, -2, -1], true).
Status add_param_override(RuleSetSpec& spec, const std::string& assignment);

struct BoundLayerRule {
  int layer = -1;
  std::string rule;                               // rule type name
  Options params;                                 // validated, defaults filled in
  std::string matched_by;                         // the entry (or "default") that chose it
  std::shared_ptr<const PreparedRule> prepared;
};

class RuleSet : public Resource {
 public:
  // Binds `spec` to `model`, looking rule types up in `catalog` (e.g. PluginRegistry::rules()).
  // Errors: unknown rule (listing the known ones), unknown or ill-typed parameter (listing the
  // valid ones), a rule bound to a layer kind it does not support, a name glob that matches no
  // layer, an override for a rule the set does not use, a layer left without a rule.
  static Result<std::shared_ptr<RuleSet>> bind(const RuleSetSpec& spec, std::shared_ptr<const Model> model,
                                               const std::vector<const RuleTypeInfo*>& catalog);

  const std::string& name() const { return spec_.name; }
  const RuleSetSpec& spec() const { return spec_; }
  const Model& model() const { return *model_; }
  const std::shared_ptr<const Model>& model_ptr() const { return model_; }
  const BoundLayerRule& for_layer(int index) const { return layers_.at(static_cast<size_t>(index)); }
  // "layer  kind  rule(params)" per line.
  std::string describe() const;

 private:
  RuleSetSpec spec_;
  std::shared_ptr<const Model> model_;
  std::vector<BoundLayerRule> layers_;
};

}  // namespace lrpflow::lrp
