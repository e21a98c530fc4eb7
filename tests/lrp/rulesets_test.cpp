// Rule sets: parsing, matching (kind, glob, position, index), defaults, overrides, validation errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "../common/temp_dir.h"
#include "builtin_rules.h"
#include "fixture_support.h"
#include "lrpflow/locations.h"
#include "lrpflow/lrp/model_import.h"
#include "lrpflow/registry.h"

namespace lrpflow::lrp {
namespace {

using testing::config_dir;
using testing::load_fixture_model;

std::shared_ptr<const Model> tiny() {
  auto model = load_model(config_dir() + "/models/tiny_cnn.yaml");
  if (!model) throw std::runtime_error(model.status().message());
  return model.value();
}

Result<std::shared_ptr<RuleSet>> bind_text(const std::string& text, std::shared_ptr<const Model> model,
                                           const std::vector<std::string>& overrides = {}) {
  auto spec = parse_ruleset(text, "test.yaml");
  if (!spec) return spec.status();
  for (const auto& o : overrides) {
    Status status = add_param_override(spec.value(), o);
    if (!status) return status;
  }
  return RuleSet::bind(spec.value(), std::move(model), builtin_rule_catalog());
}

std::string rule_of(const RuleSet& rules, const std::string& layer) {
  return rules.for_layer(rules.model().find(layer)).rule;
}

TEST(RuleSets, EveryShippedRuleSetBindsToEveryFixtureModel) {
  int count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(config_dir() + "/rulesets")) {
    if (entry.path().extension() != ".yaml") continue;
    ++count;
    auto spec = load_ruleset_file(entry.path());
    ASSERT_TRUE(spec) << spec.status().message();
    EXPECT_EQ(spec.value().name, entry.path().stem().string());
    for (const std::string case_name : {"tiny_cnn", "vgg16_narrow", "resnet_tiny"}) {
      auto model = load_fixture_model(case_name, "scripted");
      ASSERT_TRUE(model);
      auto bound = RuleSet::bind(spec.value(), model.value(), builtin_rule_catalog());
      EXPECT_TRUE(bound) << entry.path() << " on " << case_name << ": " << bound.status().message();
    }
  }
  EXPECT_GE(count, 7);
}

TEST(RuleSets, CompositeMappingIsZennits) {
  auto model = load_fixture_model("resnet_tiny", "traced");
  ASSERT_TRUE(model);
  auto flat = find_ruleset(config_dir() + "/rulesets/epsilon_plus_flat.yaml");
  ASSERT_TRUE(flat);
  auto bound = RuleSet::bind(flat.value(), model.value(), builtin_rule_catalog());
  ASSERT_TRUE(bound) << bound.status().message();
  const RuleSet& r = *bound.value();
  EXPECT_EQ(rule_of(r, "conv1"), "flat");
  EXPECT_EQ(rule_of(r, "layer1.0.conv1"), "zplus");
  EXPECT_EQ(rule_of(r, "layer2.0.downsample.0"), "zplus");
  EXPECT_EQ(rule_of(r, "fc"), "epsilon");
  EXPECT_EQ(rule_of(r, "maxpool"), "wta");
  EXPECT_EQ(rule_of(r, "avgpool"), "norm");
  EXPECT_EQ(rule_of(r, "layer1.0"), "norm");  // the residual Add
  EXPECT_EQ(rule_of(r, "relu"), "pass");
  EXPECT_EQ(r.for_layer(r.model().find("fc")).params.get_float("epsilon"), 1e-6);

  auto box = find_ruleset("epsilon_gamma_box");  // by name through the search path
  ASSERT_TRUE(box) << box.status().message();
  auto bound_box = RuleSet::bind(box.value(), model.value(), builtin_rule_catalog());
  ASSERT_TRUE(bound_box) << bound_box.status().message();
  EXPECT_EQ(rule_of(*bound_box.value(), "conv1"), "zbox");
  EXPECT_EQ(rule_of(*bound_box.value(), "layer2.0.conv2"), "gamma");
  EXPECT_EQ(bound_box.value()->for_layer(model.value()->find("conv1")).params.get_float_list("low"),
            (std::vector<double>{-3.0}));
}

TEST(RuleSets, MatchByGlobIndexAndLastPosition) {
  auto bound = bind_text(
      "name: mixed\nrules:\n"
      "  - match: {position: last}\n    rule: epsilon\n    params: {epsilon: 0.5}\n"
      "  - match: {name: \"[0-2]\", kind: Conv2d}\n    rule: gamma\n"
      "  - match: {index: [-3, -2]}\n    rule: alphabeta\n"
      "  - match: {kind: [Conv2d, Linear]}\n    rule: zplus\n",
      tiny());
  ASSERT_TRUE(bound) << bound.status().message();
  const RuleSet& r = *bound.value();
  EXPECT_EQ(rule_of(r, "12"), "epsilon");
  EXPECT_EQ(r.for_layer(r.model().find("12")).params.get_float("epsilon"), 0.5);
  EXPECT_EQ(rule_of(r, "0"), "gamma");
  EXPECT_EQ(rule_of(r, "2"), "gamma");
  EXPECT_EQ(rule_of(r, "5"), "alphabeta");  // parametric layers 0,2,5,9,12: index -3 is "5", -2 is "9"
  EXPECT_EQ(rule_of(r, "9"), "alphabeta");
  EXPECT_NE(r.describe().find("alphabeta(alpha=2"), std::string::npos) << r.describe();
}

TEST(RuleSets, OverridesApplyToEveryUseOfTheRule) {
  auto bound = bind_text("name: e\nrules:\n  - match: {kind: [Conv2d, Linear]}\n    rule: epsilon\n    params: {epsilon: 1.0e-6}\n",
                         tiny(), {"epsilon.epsilon=0.25"});
  ASSERT_TRUE(bound) << bound.status().message();
  for (const auto& name : bound.value()->model().parametric_layer_names())
    EXPECT_EQ(bound.value()->for_layer(bound.value()->model().find(name)).params.get_float("epsilon"), 0.25);
}

void expect_error(const Result<std::shared_ptr<RuleSet>>& result, const std::vector<std::string>& fragments) {
  ASSERT_FALSE(result) << "expected an error";
  for (const auto& f : fragments)
    EXPECT_NE(result.status().message().find(f), std::string::npos) << "'" << f << "' not in: " << result.status().message();
}

TEST(RuleSets, DuplicateKeysAreErrorsAtFileLineColumn) {
  // yaml-cpp alone keeps the first of two equal keys and drops the second silently.
  const auto twice = parse_ruleset("name: t\nrules:\n  - match: {kind: Conv2d}\n    rule: epsilon\n    rule: zplus\n",
                                   "test.yaml");
  ASSERT_FALSE(twice);
  EXPECT_EQ(twice.status().message(), "test.yaml:5:5: duplicate key 'rule' (first given at line 4, column 5)");
  const auto name = parse_ruleset("name: a\nname: b\nrules: []\n", "test.yaml");
  ASSERT_FALSE(name);
  EXPECT_EQ(name.status().message(), "test.yaml:2:1: duplicate key 'name' (first given at line 1, column 1)");
}

TEST(RuleSets, ValidationErrorsAreSpecific) {
  const std::string entry = "  - match: {kind: [Conv2d, Linear]}\n    rule: epsilon\n";
  const std::string base = "name: t\nrules:\n" + entry;
  expect_error(bind_text("name: t\nrules:\n  - match: {kind: Conv2d}\n    rule: epsilonn\n", tiny()),
               {"test.yaml:3", "unknown rule 'epsilonn'", "zbox", "gamma"});
  expect_error(bind_text(base + "    params: {epsilonn: 1}\n", tiny()), {"no parameter 'epsilonn'", "valid: epsilon"});
  expect_error(bind_text(base + "    params: {epsilon: abc}\n", tiny()), {"parameter 'epsilon'", "float"});
  expect_error(bind_text(base, tiny(), {"gamma.gamma=0.5"}), {"does not use", "gamma"});
  expect_error(bind_text(base, tiny(), {"epsilon.eps=0.5"}), {"no parameter 'eps'", "valid: epsilon"});
  expect_error(bind_text(base, tiny(), {"nosuchrule.x=1"}), {"unknown rule 'nosuchrule'"});
  expect_error(bind_text("name: t\nrules:\n  - match: {name: \"features.*\"}\n    rule: epsilon\n" + entry, tiny()),
               {"features.*", "matches no layer"});
  expect_error(bind_text("name: t\nrules:\n  - match: {kind: Conv2d}\n    rule: epsilon\n", tiny()),
               {"layer '9'", "Linear", "has no rule"});
  expect_error(bind_text("name: t\nrules:\n  - match: {kind: ReLU}\n    rule: epsilon\n" + entry, tiny()),
               {"cannot be applied", "ReLU"});
  expect_error(bind_text("name: t\nrules:\n  - match: {position: first}\n    rule: zbox\n    params: {low: [0, 0]}\n" +
                             entry,
                         tiny()),
               {"low needs 1 value or one per input channel (3)"});
  expect_error(bind_text("name: t\nrules:\n  - match: {kind: Convolution}\n    rule: epsilon\n", tiny()),
               {"unknown layer kind 'Convolution'", "Conv2d"});
  expect_error(bind_text("name: t\nrules:\n  - match: {kind: Conv2d, where: x}\n    rule: epsilon\n", tiny()),
               {"unknown match key 'where'"});
  expect_error(bind_text("name: t\nrules:\n  - match: {kind: [Conv2d, Linear]}\n    rule: alphabeta\n    params: {alpha: 1, beta: 1}\n", tiny()),
               {"alpha - beta must be 1"});

  RuleSetSpec spec;
  Status bad = add_param_override(spec, "epsilon=0.25");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.message().find("RULE.PARAM=VALUE"), std::string::npos);
  auto unknown = find_ruleset("no_such_ruleset");
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.status().message().find("epsilon_plus_flat"), std::string::npos) << unknown.status().message();
}

// The test binary runs from the build tree: the shipped rule sets are the source tree's, the
// shipped plugins the build tree's (an installed copy is checked by tests/plugins/install_test.sh).
// Which rule a layer no entry matches gets is declared by the rule types (default_for), not known
// to the rule set code: a catalog with another ReLU default uses it, and two claims are an error.
TEST(RuleSets, DefaultRulesComeFromTheRuleTypesThatDeclareThem) {
  const std::string text = "name: t\nrules:\n  - {match: {kind: [Conv2d, Linear]}, rule: epsilon}\n";
  auto spec = parse_ruleset(text, "test.yaml");
  ASSERT_TRUE(spec) << spec.status().message();
  std::vector<const RuleTypeInfo*> catalog = builtin_rule_catalog();
  auto builtin = RuleSet::bind(spec.value(), tiny(), catalog);
  ASSERT_TRUE(builtin) << builtin.status().message();
  EXPECT_EQ(rule_of(*builtin.value(), "1"), "pass");
  EXPECT_EQ(rule_of(*builtin.value(), "4"), "wta");
  EXPECT_EQ(builtin.value()->for_layer(builtin.value()->model().find("1")).matched_by, "default");

  // A plugin's rule that declares itself the ReLU default, in a catalog where pass no longer does.
  const RuleTypeInfo* pass = nullptr;
  for (const RuleTypeInfo* info : catalog) if (info->name == "pass") pass = info;
  ASSERT_NE(pass, nullptr);
  RuleTypeInfo quiet_pass = *pass;
  quiet_pass.default_for = {LayerKind::Dropout, LayerKind::Flatten};
  RuleTypeInfo relu_gate = *pass;
  relu_gate.name = "relu_gate";
  relu_gate.applies_to = {LayerKind::ReLU};
  relu_gate.default_for = {LayerKind::ReLU};
  std::vector<const RuleTypeInfo*> custom;
  for (const RuleTypeInfo* info : catalog) custom.push_back(info->name == "pass" ? &quiet_pass : info);
  custom.push_back(&relu_gate);
  auto replaced = RuleSet::bind(spec.value(), tiny(), custom);
  ASSERT_TRUE(replaced) << replaced.status().message();
  EXPECT_EQ(rule_of(*replaced.value(), "1"), "relu_gate");
  EXPECT_EQ(rule_of(*replaced.value(), "11"), "pass");  // Dropout stays with pass

  // Both claim ReLU: the binding names the two rule types and the kind.
  for (const RuleTypeInfo*& info : custom) if (info == &quiet_pass) info = pass;
  auto clash = RuleSet::bind(spec.value(), tiny(), custom);
  ASSERT_FALSE(clash);
  EXPECT_NE(clash.status().message().find("'pass' and 'relu_gate' both declare themselves the default for ReLU"),
            std::string::npos) << clash.status().message();

  // No rule type claims ReLU: the layer has no rule, and the error says how to add one.
  for (const RuleTypeInfo*& info : custom) if (info == pass) info = &quiet_pass;
  custom.pop_back();
  auto missing = RuleSet::bind(spec.value(), tiny(), custom);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.status().message().find("layer '1' (ReLU) has no rule"), std::string::npos) << missing.status().message();
}

TEST(RuleSetSearch, BuildTreeUsesTheSourceTreesRuleSetsAndTheBuildTreesPlugins) {
  namespace fs = std::filesystem;
  EXPECT_FALSE(locations().installed);
  EXPECT_TRUE(fs::equivalent(locations().plugin_dir, LRPFLOW_TEST_PLUGIN_DIR)) << locations().plugin_dir;
  const auto dirs = ruleset_search_path();
  ASSERT_FALSE(dirs.empty());
  EXPECT_TRUE(fs::equivalent(dirs.back(), fs::path(config_dir()) / "rulesets")) << dirs.back();
  const auto plugin_dirs = PluginRegistry::search_path({});
  EXPECT_EQ(std::count_if(plugin_dirs.begin(), plugin_dirs.end(),
                          [](const fs::path& d) { return fs::equivalent(d, LRPFLOW_TEST_PLUGIN_DIR); }),
            1);
}

TEST(RuleSetSearch, NamedRuleSetsListWhatANameFindsAndWhatItHides) {
  lrpflow::testing::TempDir first, second;
  auto write = [](const std::filesystem::path& file, const std::string& description) {
    std::ofstream(file) << "description: " << description << "\nrules:\n  - {match: {kind: [Conv2d, Linear]}, rule: epsilon}\n";
  };
  write(first / "mine.yaml", "first");
  write(second / "mine.yaml", "second");
  write(second / "epsilon.yaml", "shadows the shipped one");
  std::ofstream(second / "notes.txt") << "not a rule set\n";

  const auto named = named_rulesets({first.path(), second.path()});
  auto entry = [&](const std::string& name) {
    auto it = std::find_if(named.begin(), named.end(), [&](const NamedRuleSet& n) { return n.name == name; });
    return it == named.end() ? nullptr : &*it;
  };
  ASSERT_NE(entry("mine"), nullptr);
  EXPECT_EQ(entry("mine")->file, first / "mine.yaml");
  EXPECT_EQ(entry("mine")->hidden, std::vector<std::filesystem::path>{second / "mine.yaml"});
  ASSERT_NE(entry("epsilon"), nullptr);
  EXPECT_EQ(entry("epsilon")->file, second / "epsilon.yaml");
  ASSERT_EQ(entry("epsilon")->hidden.size(), 1u);  // the shipped configs/rulesets/epsilon.yaml
  EXPECT_TRUE(std::filesystem::equivalent(entry("epsilon")->hidden[0], std::filesystem::path(config_dir()) / "rulesets/epsilon.yaml"));
  EXPECT_NE(entry("epsilon_plus_flat"), nullptr);  // shipped, not hidden
  EXPECT_EQ(entry("notes"), nullptr);
  EXPECT_TRUE(std::is_sorted(named.begin(), named.end(),
                             [](const NamedRuleSet& a, const NamedRuleSet& b) { return a.name < b.name; }));

  // find_ruleset resolves each name to the file the list shows.
  auto mine = find_ruleset("mine", {first.path(), second.path()});
  ASSERT_TRUE(mine) << mine.status().message();
  EXPECT_EQ(mine.value().description, "first");
  auto epsilon = find_ruleset("epsilon", {first.path(), second.path()});
  ASSERT_TRUE(epsilon) << epsilon.status().message();
  EXPECT_EQ(epsilon.value().description, "shadows the shipped one");
}

}  // namespace
}  // namespace lrpflow::lrp
