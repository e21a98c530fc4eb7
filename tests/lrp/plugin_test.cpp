// The lrp_rules plugin as the host loads it: rule types and the model/ruleset resources.
#include <algorithm>

#include <gtest/gtest.h>

#include "fixture_support.h"
#include "lrpflow/lrp/engine.h"
#include "lrpflow/registry.h"

namespace lrpflow::lrp {
namespace {

const PluginRegistry& registry() {
  static PluginRegistry* r = [] {
    auto* reg = new PluginRegistry();
    Status status = reg->load_library(std::string(LRPFLOW_TEST_PLUGIN_DIR) + "/lrpflow_lrp_rules.so");
    if (!status) throw std::runtime_error(status.message());
    return reg;
  }();
  return *r;
}

Result<std::shared_ptr<const Resource>> create(const std::string& type, const std::string& name,
                                               std::map<std::string, OptionValue> values, const ResourceSet& set) {
  const ResourceTypeInfo* info = registry().find_resource(type);
  if (!info) return Status::error("no resource type " + type);
  // Fill defaults as the host does after validating the YAML.
  for (const auto& spec : info->options)
    if (!values.count(spec.name) && !std::holds_alternative<std::monostate>(spec.default_value))
      values[spec.name] = spec.default_value;
  ResourceContext ctx;
  ctx.name = name;
  ctx.options = Options(values);
  ctx.base_dir = testing::config_dir();
  ctx.resources = &set;
  ctx.registry = &registry();
  return info->create(ctx);
}

TEST(LrpRulesPlugin, ProvidesEveryBuiltinRule) {
  for (const std::string rule : {"epsilon", "zplus", "alphabeta", "gamma", "flat", "wsquare", "zbox", "pass", "norm", "wta"})
    EXPECT_NE(find_rule_type(registry(), rule), nullptr) << rule;
  const RuleTypeInfo* zbox = find_rule_type(registry(), "zbox");
  ASSERT_NE(zbox, nullptr);
  EXPECT_EQ(zbox->applies_to, (std::vector<LayerKind>{LayerKind::Conv2d, LayerKind::Linear}));
  // The typed views of the registry's rule extensions agree with each other, sorted by name.
  const std::vector<std::string> names = rule_type_names(registry());
  const std::vector<const RuleTypeInfo*> types = rule_types(registry());
  ASSERT_EQ(names.size(), types.size());
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  for (std::size_t i = 0; i < names.size(); ++i) EXPECT_EQ(types[i]->name, names[i]);
}

TEST(LrpRulesPlugin, ModelAndRulesetResources) {
  ResourceSet set;
  auto model = create("model", "net", {{"path", std::string("models/tiny_cnn.yaml")}}, set);
  ASSERT_TRUE(model) << model.status().message();
  set.add("net", model.value());
  auto rules = create("ruleset", "rules",
                      {{"model", std::string("net")}, {"name", std::string("epsilon_gamma_box")},
                       {"params", std::vector<std::string>{"gamma.gamma=0.5"}}},
                      set);
  ASSERT_TRUE(rules) << rules.status().message();
  auto bound = std::dynamic_pointer_cast<const RuleSet>(rules.value());
  ASSERT_TRUE(bound);
  EXPECT_EQ(bound->for_layer(bound->model().find("2")).params.get_float("gamma"), 0.5);
  Engine engine(bound);
  auto e = engine.explain(at::rand({2, 3, 32, 32}), {1, 2});
  ASSERT_TRUE(e) << e.status().message();

  auto missing = create("ruleset", "r2", {{"model", std::string("nothere")}, {"name", std::string("epsilon")}}, set);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.status().message().find("r2"), std::string::npos);
  auto unknown = create("ruleset", "r3", {{"model", std::string("net")}, {"name", std::string("epsilonn")}}, set);
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.status().message().find("unknown rule set 'epsilonn'"), std::string::npos) << unknown.status().message();
  auto bad_model = create("model", "m2", {{"path", std::string("models/nothere.pt")}}, set);
  ASSERT_FALSE(bad_model);
  EXPECT_NE(bad_model.status().message().find("nothere.pt"), std::string::npos);
}

}  // namespace
}  // namespace lrpflow::lrp
