// Rule sets: YAML parsing, parameter overrides, binding to a model.
#include "lrpflow/lrp/ruleset.h"

#include <fnmatch.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <yaml-cpp/yaml.h>

#include "lrpflow/locations.h"
#include "lrpflow/option_yaml.h"
#include "lrpflow/yaml_load.h"

namespace lrpflow::lrp {
namespace {

std::string join(const std::vector<std::string>& items, const char* sep = ", ") {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : sep) + item;
  return out;
}

std::string line_of(const std::string& source, const YAML::Node& node) {
  return source + ":" + std::to_string(node.Mark().line + 1);
}

Result<std::vector<LayerKind>> parse_kinds(const YAML::Node& node, const std::string& where) {
  std::vector<std::string> names;
  if (node.IsScalar()) {
    names.push_back(node.as<std::string>());
  } else if (node.IsSequence()) {
    names = node.as<std::vector<std::string>>();
  } else {
    return Status::error(where + ": 'kind' must be a layer kind or a list of them");
  }
  std::vector<LayerKind> kinds;
  for (const auto& name : names) {
    auto kind = layer_kind_from_name(name);
    if (!kind) return Status::error(where + ": unknown layer kind '" + name + "' (known: " + join(layer_kind_names()) + ")");
    kinds.push_back(*kind);
  }
  return kinds;
}

Result<LayerMatcher> parse_match(const YAML::Node& node, const std::string& where) {
  LayerMatcher m;
  if (!node.IsMap()) return Status::error(where + ": 'match' must be a map (keys: kind, name, position, index)");
  for (const auto& entry : node) {
    const std::string key = entry.first.as<std::string>();
    const YAML::Node& value = entry.second;
    if (key == "kind") {
      auto kinds = parse_kinds(value, where);
      if (!kinds) return kinds.status();
      m.kinds = kinds.value();
    } else if (key == "name") {
      m.name_glob = value.as<std::string>();
    } else if (key == "position") {
      const std::string p = value.as<std::string>();
      if (p == "first") m.position = LayerMatcher::Position::First;
      else if (p == "last") m.position = LayerMatcher::Position::Last;
      else return Status::error(where + ": position must be 'first' or 'last', not '" + p + "'");
    } else if (key == "index") {
      std::vector<int64_t> range;
      try {
        range = value.IsScalar() ? std::vector<int64_t>{value.as<int64_t>(), value.as<int64_t>()}
                                 : value.as<std::vector<int64_t>>();
      } catch (const YAML::Exception&) {
        return Status::error(where + ": index must be an integer or [from, to]");
      }
      if (range.size() != 2) return Status::error(where + ": index must be an integer or [from, to]");
      m.index_range = std::make_pair(range[0], range[1]);
    } else {
      return Status::error(where + ": unknown match key '" + key + "' (valid: kind, name, position, index)");
    }
  }
  return m;
}

// YAML text of a parameter value, re-emitted so that it can be parsed again at bind time.
std::string yaml_text(const YAML::Node& node) {
  YAML::Emitter out;
  out << YAML::Flow << node;
  return out.c_str();
}

// A parameter's value, kept as YAML text (rule set files and overrides), as an option of its type.
Result<OptionValue> parse_param(const OptionSpec& spec, const std::string& text) {
  YAML::Node node;
  try {
    node = load_yaml(text);
  } catch (const YAML::Exception& e) {
    return Status::error("not valid YAML: " + e.msg);
  }
  return option_value_from_yaml(node, spec);
}

bool kind_in(LayerKind kind, const std::vector<LayerKind>& kinds) {
  return std::find(kinds.begin(), kinds.end(), kind) != kinds.end();
}

// Layers an entry matches, in forward order.
std::vector<int> matching_layers(const LayerMatcher& m, const Model& model) {
  const bool counted = m.position != LayerMatcher::Position::Any || m.index_range.has_value();
  std::vector<int> candidates;
  for (int i = 0; i < model.size(); ++i) {
    const Layer& layer = model.layer(i);
    if (!m.kinds.empty() ? !kind_in(layer.kind, m.kinds) : (counted && !is_parametric(layer.kind))) continue;
    if (!m.name_glob.empty() && fnmatch(m.name_glob.c_str(), layer.name.c_str(), 0) != 0) continue;
    candidates.push_back(i);
  }
  if (!counted || candidates.empty()) return candidates;
  const auto n = static_cast<std::int64_t>(candidates.size());
  std::int64_t from = 0, to = n - 1;
  if (m.position == LayerMatcher::Position::First) to = 0;
  if (m.position == LayerMatcher::Position::Last) from = n - 1;
  if (m.index_range) {
    std::int64_t a = m.index_range->first < 0 ? n + m.index_range->first : m.index_range->first;
    std::int64_t b = m.index_range->second < 0 ? n + m.index_range->second : m.index_range->second;
    from = std::max(from, a);
    to = std::min(to, b);
  }
  std::vector<int> result;
  for (std::int64_t k = std::max<std::int64_t>(from, 0); k <= to && k < n; ++k) result.push_back(candidates[k]);
  return result;
}

std::string format_params(const Options& params) {
  std::string out;
  for (const auto& [key, value] : params.values())
    out += (out.empty() ? "" : ", ") + key + "=" + format_option_value(value);
  return out;
}

}  // namespace

std::string LayerMatcher::describe() const {
  std::vector<std::string> parts;
  if (!kinds.empty()) {
    std::vector<std::string> names;
    for (auto k : kinds) names.emplace_back(layer_kind_name(k));
    parts.push_back("kind: " + (names.size() == 1 ? names[0] : "[" + join(names) + "]"));
  }
  if (!name_glob.empty()) parts.push_back("name: \"" + name_glob + "\"");
  if (position == Position::First) parts.push_back("position: first");
  if (position == Position::Last) parts.push_back("position: last");
  if (index_range)
    parts.push_back("index: [" + std::to_string(index_range->first) + ", " + std::to_string(index_range->second) + "]");
  return "{" + join(parts) + "}";
}

// The rule each layer kind gets when no entry matches it: the rule type that declares itself its
// default (the built-in pass, wta and norm). Two rule types claiming one kind is an error.
static Result<std::map<LayerKind, std::string>> defaults_by_kind(const std::map<std::string, const RuleTypeInfo*>& types) {
  std::map<LayerKind, std::string> defaults;
  for (const auto& [name, info] : types) {
    for (LayerKind kind : info->default_for) {
      auto [it, inserted] = defaults.emplace(kind, name);
      if (!inserted)
        return Status::error("rule types '" + it->second + "' and '" + name + "' both declare themselves the default for " +
                             layer_kind_name(kind) + " layers; load only one of the plugins that provide them");
    }
  }
  return defaults;
}

Result<RuleSetSpec> parse_ruleset(const std::string& yaml_text_in, const std::string& source) {
  RuleSetSpec spec;
  spec.source = source;
  try {
    YAML::Node root = load_yaml(yaml_text_in);
    if (!root.IsMap()) return Status::error(source + ": a rule set must be a YAML map with 'name' and 'rules'");
    for (const auto& entry : root) {
      const std::string key = entry.first.as<std::string>();
      if (key != "name" && key != "description" && key != "rules")
        return Status::error(line_of(source, entry.first) + ": unknown key '" + key + "' (valid: name, description, rules)");
    }
    spec.name = root["name"] ? root["name"].as<std::string>()
                             : std::filesystem::path(source).stem().string();
    if (root["description"]) spec.description = root["description"].as<std::string>();
    const YAML::Node rules = root["rules"];
    if (!rules || !rules.IsSequence()) return Status::error(source + ": 'rules' must be a list");
    for (const auto& node : rules) {
      const std::string where = line_of(source, node);
      if (!node.IsMap()) return Status::error(where + ": each rule entry must be a map with 'match' and 'rule'");
      RuleAssignment a;
      a.where = where;
      for (const auto& entry : node) {
        const std::string key = entry.first.as<std::string>();
        if (key != "match" && key != "rule" && key != "params")
          return Status::error(where + ": unknown key '" + key + "' in a rule entry (valid: match, rule, params)");
      }
      if (!node["rule"]) return Status::error(where + ": rule entry without 'rule'");
      a.rule = node["rule"].as<std::string>();
      if (node["match"]) {
        auto m = parse_match(node["match"], where);
        if (!m) return m.status();
        a.match = m.value();
      }
      if (node["params"]) {
        if (!node["params"].IsMap()) return Status::error(where + ": 'params' must be a map");
        for (const auto& p : node["params"]) a.params[p.first.as<std::string>()] = yaml_text(p.second);
      }
      spec.rules.push_back(std::move(a));
    }
  } catch (const YamlContentError& e) {
    return Status::error(yaml_position(source, e.mark) + ": " + e.msg);
  } catch (const YAML::Exception& e) {
    return Status::error(source + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
  return spec;
}

Result<RuleSetSpec> load_ruleset_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) return Status::error(path.string() + ": cannot read rule set file");
  std::stringstream text;
  text << in.rdbuf();
  return parse_ruleset(text.str(), path.string());
}

std::vector<std::filesystem::path> ruleset_search_path(const std::vector<std::filesystem::path>& extra) {
  std::vector<std::filesystem::path> dirs = extra;
  if (const char* env = std::getenv("LRPFLOW_RULESET_PATH")) {
    std::stringstream parts(env);
    std::string part;
    while (std::getline(parts, part, ':'))
      if (!part.empty()) dirs.emplace_back(part);
  }
  // The shipped rule sets: the source tree's for a build-tree binary, the install's otherwise.
  dirs.push_back(locations().data_dir / "configs" / "rulesets");
  return dirs;
}

std::vector<NamedRuleSet> named_rulesets(const std::vector<std::filesystem::path>& extra) {
  std::map<std::string, NamedRuleSet> by_name;
  for (const auto& dir : ruleset_search_path(extra)) {
    std::error_code ec;
    std::vector<std::filesystem::path> files;
    for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
      if (it->path().extension() == ".yaml" && it->is_regular_file(ec)) files.push_back(it->path());
    std::sort(files.begin(), files.end());
    for (const auto& file : files) {
      NamedRuleSet& entry = by_name[file.stem().string()];
      if (entry.file.empty()) {
        entry.name = file.stem().string();
        entry.file = file;
      } else {
        entry.hidden.push_back(file);
      }
    }
  }
  std::vector<NamedRuleSet> out;
  for (auto& [name, entry] : by_name) out.push_back(std::move(entry));
  return out;
}

Result<RuleSetSpec> find_ruleset(const std::string& name_or_path, const std::vector<std::filesystem::path>& extra) {
  std::filesystem::path as_path(name_or_path);
  if (name_or_path.find('/') != std::string::npos || as_path.extension() == ".yaml" || as_path.extension() == ".yml")
    return load_ruleset_file(as_path);
  std::vector<std::string> searched;
  for (const auto& dir : ruleset_search_path(extra)) {
    std::filesystem::path candidate = dir / (name_or_path + ".yaml");
    std::error_code ec;
    if (std::filesystem::is_regular_file(candidate, ec)) return load_ruleset_file(candidate);
    searched.push_back(dir.string());
  }
  std::vector<std::string> available;
  for (const NamedRuleSet& entry : named_rulesets(extra)) available.push_back(entry.name);
  return Status::error("unknown rule set '" + name_or_path + "' (searched: " + join(searched) + "; available: " +
                       (available.empty() ? std::string("none") : join(available)) + "; `lrpflow rulesets` lists them)");
}

Status add_param_override(RuleSetSpec& spec, const std::string& assignment) {
  const auto eq = assignment.find('=');
  const auto dot = assignment.find('.');
  if (eq == std::string::npos || dot == std::string::npos || dot > eq || dot == 0 || dot + 1 == eq)
    return Status::error("parameter override '" + assignment + "' is not of the form RULE.PARAM=VALUE (e.g. epsilon.epsilon=0.25)");
  spec.overrides[assignment.substr(0, dot)][assignment.substr(dot + 1, eq - dot - 1)] = assignment.substr(eq + 1);
  return Status::ok();
}

Result<std::shared_ptr<RuleSet>> RuleSet::bind(const RuleSetSpec& spec, std::shared_ptr<const Model> model,
                                               const std::vector<const RuleTypeInfo*>& catalog) {
  const std::string set = "rule set '" + spec.name + "' (" + spec.source + ")";
  if (!model) return Status::error(set + ": no model to bind to");
  std::map<std::string, const RuleTypeInfo*> types;
  for (const auto* info : catalog)
    if (info) types[info->name] = info;
  std::vector<std::string> known;
  for (const auto& [name, info] : types) known.push_back(name);
  auto lookup = [&](const std::string& name, const std::string& where) -> Result<const RuleTypeInfo*> {
    auto it = types.find(name);
    if (it == types.end())
      return Status::error(where + ": unknown rule '" + name + "' (known rules: " + (known.empty() ? "none; is the lrp_rules plugin loaded?" : join(known)) + ")");
    return it->second;
  };

  // Overrides must name a rule the set uses and a parameter that rule has.
  std::set<std::string> used;
  for (const auto& a : spec.rules) used.insert(a.rule);
  const int n = model->size();
  auto default_rules = defaults_by_kind(types);
  if (!default_rules) return default_rules.status().with_context(set);
  std::vector<std::string> defaults(n);
  for (int i = 0; i < n; ++i) {
    auto it = default_rules.value().find(model->layer(i).kind);
    if (it != default_rules.value().end()) defaults[i] = it->second;
  }
  for (const auto& [rule, params] : spec.overrides) {
    auto type = lookup(rule, set + ": parameter override");
    if (!type) return type.status();
    for (const auto& entry : params) {
      const std::string& key = entry.first;  // not a structured binding: lambdas capture those only from C++20
      const auto& specs = type.value()->params;
      if (std::none_of(specs.begin(), specs.end(), [&](const OptionSpec& s) { return s.name == key; })) {
        std::vector<std::string> valid;
        for (const auto& s : specs) valid.push_back(s.name);
        return Status::error(set + ": rule '" + rule + "' has no parameter '" + key + "' (valid: " +
                             (valid.empty() ? "none" : join(valid)) + ")");
      }
    }
    bool is_default_rule = std::find(defaults.begin(), defaults.end(), rule) != defaults.end();
    if (!used.count(rule) && !is_default_rule)
      return Status::error(set + ": parameter override for rule '" + rule + "', which the rule set does not use (it uses: " +
                           join(std::vector<std::string>(used.begin(), used.end())) + ")");
  }

  // Assign: first matching entry wins.
  std::vector<int> chosen(n, -1);
  for (size_t e = 0; e < spec.rules.size(); ++e) {
    const auto& a = spec.rules[e];
    auto type = lookup(a.rule, a.where);
    if (!type) return type.status();
    std::vector<int> layers = matching_layers(a.match, *model);
    if (layers.empty() && !a.match.name_glob.empty()) {
      std::vector<std::string> names;
      for (const auto& layer : model->layers()) names.push_back(layer.name);
      return Status::error(a.where + ": match " + a.match.describe() + " matches no layer of model " + model->source() +
                           " (layers: " + join(names) + ")");
    }
    for (int i : layers) {
      if (chosen[i] >= 0) continue;
      const auto& applies = type.value()->applies_to;
      if (!kind_in(model->layer(i).kind, applies)) {
        // A broad match (no kind given) only claims the layers its rule supports; a match naming
        // the kind must fit.
        if (a.match.kinds.empty()) continue;
        std::vector<std::string> kinds;
        for (auto k : applies) kinds.emplace_back(layer_kind_name(k));
        return Status::error(a.where + ": rule '" + a.rule + "' cannot be applied to layer '" + model->layer(i).name +
                             "' (" + layer_kind_name(model->layer(i).kind) + "); it applies to: " + join(kinds));
      }
      chosen[i] = static_cast<int>(e);
    }
  }

  auto result = std::shared_ptr<RuleSet>(new RuleSet());
  result->spec_ = spec;
  result->model_ = model;
  result->layers_.resize(n);
  for (int i = 0; i < n; ++i) {
    const Layer& layer = model->layer(i);
    BoundLayerRule& bound = result->layers_[i];
    bound.layer = i;
    std::map<std::string, std::string> given;
    std::string where;
    if (chosen[i] >= 0) {
      const auto& a = spec.rules[chosen[i]];
      bound.rule = a.rule;
      given = a.params;
      where = a.where;
      bound.matched_by = a.where + " " + a.match.describe();
    } else {
      bound.rule = defaults[i];
      where = set + " (default for " + layer_kind_name(layer.kind) + ")";
      bound.matched_by = "default";
      if (bound.rule.empty())
        return Status::error(set + ": layer '" + layer.name + "' (" + layer_kind_name(layer.kind) +
                             ") has no rule; add an entry matching it (e.g. match: {kind: " + layer_kind_name(layer.kind) + "})");
    }
    auto type = lookup(bound.rule, where);
    if (!type) return type.status();
    if (!kind_in(layer.kind, type.value()->applies_to))
      return Status::error(where + ": rule '" + bound.rule + "' does not apply to layer '" + layer.name + "' (" +
                           layer_kind_name(layer.kind) + ")");
    auto ov = spec.overrides.find(bound.rule);
    if (ov != spec.overrides.end())
      for (const auto& [key, text] : ov->second) given[key] = text;
    std::map<std::string, OptionValue> values;
    std::vector<std::string> valid;
    for (const auto& ps : type.value()->params) {
      valid.push_back(ps.name);
      auto it = given.find(ps.name);
      if (it == given.end()) {
        if (ps.required) return Status::error(where + ": rule '" + bound.rule + "' needs parameter '" + ps.name + "'");
        if (!std::holds_alternative<std::monostate>(ps.default_value)) values[ps.name] = ps.default_value;
        continue;
      }
      auto value = parse_param(ps, it->second);
      if (!value) return Status::error(where + ": rule '" + bound.rule + "' parameter '" + ps.name + "': " + value.status().message());
      values[ps.name] = value.value();
    }
    for (const auto& [key, text] : given)
      if (std::find(valid.begin(), valid.end(), key) == valid.end())
        return Status::error(where + ": rule '" + bound.rule + "' has no parameter '" + key + "' (valid: " +
                             (valid.empty() ? "none" : join(valid)) + ")");
    bound.params = Options(values);
    auto prepared = type.value()->prepare(layer, bound.params);
    if (!prepared)
      return Status::error(where + ": rule '" + bound.rule + "' on layer '" + layer.name + "': " + prepared.status().message());
    bound.prepared = prepared.value();
  }
  return result;
}

std::string RuleSet::describe() const {
  std::ostringstream out;
  out << "rule set " << spec_.name << " on " << model_->source() << "\n";
  size_t width = 5;
  for (const auto& layer : model_->layers()) width = std::max(width, layer.name.size());
  for (const auto& bound : layers_) {
    const Layer& layer = model_->layer(bound.layer);
    std::string kind = layer_kind_name(layer.kind);
    out << "  " << layer.name << std::string(width - layer.name.size() + 2, ' ') << kind
        << std::string(kind.size() < 19 ? 19 - kind.size() : 1, ' ') << bound.rule;
    std::string params = format_params(bound.params);
    if (!params.empty()) out << "(" << params << ")";
    out << "\n";
  }
  return out.str();
}

}  // namespace lrpflow::lrp
