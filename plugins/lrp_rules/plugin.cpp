// The lrp_rules plugin: the built-in LRP rules plus the "model" and "ruleset" resource types.
//
//   resources:
//     - {name: net, type: model, options: {path: models/vgg16.pt, input_shape: [3, 224, 224]}}
//     - {name: rules, type: ruleset, options: {model: net, name: epsilon_gamma_box, params: [gamma.gamma=0.5]}}
#include <filesystem>

#include "builtin_rules.h"
#include "lrpflow/lrp/model_import.h"
#include "lrpflow/lrp/ruleset.h"
#include "lrpflow/model_sidecar.h"
#include "lrpflow/plugin_api.h"
#include "lrpflow/registry.h"

namespace {

using lrpflow::Options;
using lrpflow::OptionSpec;
using lrpflow::OptionType;
using lrpflow::Resource;
using lrpflow::ResourceContext;
using lrpflow::Result;
using lrpflow::Status;

OptionSpec spec(std::string name, OptionType type, lrpflow::OptionValue def, std::string help, bool required = false) {
  OptionSpec s;
  s.name = std::move(name);
  s.type = type;
  s.default_value = std::move(def);
  s.help = std::move(help);
  s.required = required;
  return s;
}

std::filesystem::path resolve(const ResourceContext& ctx, const std::string& path) {
  std::filesystem::path p(path);
  return p.is_relative() && !ctx.base_dir.empty() ? ctx.base_dir / p : p;
}

// What the sidecar of a TorchScript model (<model>.yaml, written by tools/export_torchvision.py)
// says when its weights are random (`weights: random (seed 0) ...`); "" otherwise. The sidecar is
// optional: a missing or unreadable one says nothing.
std::string random_weights_note(const std::filesystem::path& model_path) {
  const std::string weights = lrpflow::read_model_sidecar(model_path).weights;
  return weights.rfind("random", 0) == 0 ? weights : "";
}

Result<std::shared_ptr<const Resource>> create_model(const ResourceContext& ctx) {
  try {
    lrpflow::lrp::ModelLoadOptions options;
    options.input_shape = ctx.options.get_int_list("input_shape");
    options.seed = static_cast<std::uint64_t>(ctx.options.get_int("seed"));
    const std::filesystem::path path = resolve(ctx, ctx.options.get_string("path"));
    auto model = lrpflow::lrp::load_model(path, options);
    if (!model) return model.status().with_context("resource '" + ctx.name + "'");
    if (const std::string note = random_weights_note(path); !note.empty() && ctx.warnings) {
      ctx.warnings->push_back("model '" + ctx.name + "' (" + path.string() + ") has random weights: its sidecar " +
                              lrpflow::sidecar_path(path).string() + " says 'weights: " + note + "'");
    }
    return std::shared_ptr<const Resource>(model.value());
  } catch (const std::exception& e) {
    return Status::error("resource '" + ctx.name + "': " + lrpflow::exception_message(e));
  }
}

Result<std::shared_ptr<const Resource>> create_ruleset(const ResourceContext& ctx) {
  try {
    const std::string where = "resource '" + ctx.name + "'";
    if (!ctx.resources) return Status::error(where + ": no resources to find the model in");
    auto model = ctx.resources->get<lrpflow::lrp::Model>(ctx.options.get_string("model"));
    if (!model) return model.status().with_context(where);
    const std::string name = ctx.options.get_string("name");
    const std::string file = ctx.options.get_string("file");
    if (name.empty() == file.empty()) return Status::error(where + ": give exactly one of 'name' and 'file'");
    auto spec = file.empty() ? lrpflow::lrp::find_ruleset(name, {ctx.base_dir / "rulesets"})
                             : lrpflow::lrp::load_ruleset_file(resolve(ctx, file));
    if (!spec) return spec.status().with_context(where);
    for (const auto& assignment : ctx.options.get_string_list("params")) {
      Status status = lrpflow::lrp::add_param_override(spec.value(), assignment);
      if (!status) return status.with_context(where);
    }
    auto catalog = ctx.registry ? lrpflow::lrp::rule_types(*ctx.registry) : lrpflow::lrp::builtin_rule_catalog();
    auto bound = lrpflow::lrp::RuleSet::bind(spec.value(), model.value(), catalog);
    if (!bound) return bound.status().with_context(where);
    return std::shared_ptr<const Resource>(bound.value());
  } catch (const std::exception& e) {
    return Status::error("resource '" + ctx.name + "': " + lrpflow::exception_message(e));
  }
}

const lrpflow::PluginDescriptor& describe() {
  static const lrpflow::PluginDescriptor descriptor = [] {
    lrpflow::PluginDescriptor d;
    d.name = "lrp_rules";
    d.version = "1.0.0";
    for (const auto& rule : lrpflow::lrp::builtin_rule_types()) d.extensions.push_back(lrpflow::lrp::rule_extension(rule));
    lrpflow::ResourceTypeInfo model;
    model.type = "model";
    model.description = "a neural network: TorchScript (.pt, scripted or traced) or a YAML architecture (.yaml)";
    model.options = {
        spec("path", OptionType::String, std::monostate{}, "model file (.pt TorchScript or .yaml description)", true),
        spec("input_shape", OptionType::IntList, std::vector<std::int64_t>{}, "per-sample input shape C,H,W (checks inputs, infers shapes)"),
        spec("seed", OptionType::Int, std::int64_t{0}, "YAML models without weights: seed of the random weights")
            .int_range(std::numeric_limits<std::int64_t>::min(), std::numeric_limits<std::int64_t>::max()),
    };
    model.create = create_model;
    d.resources.push_back(model);
    lrpflow::ResourceTypeInfo ruleset;
    ruleset.type = "ruleset";
    ruleset.description = "an LRP rule set bound to a model (a named one, see `lrpflow rulesets`, or a file)";
    ruleset.options = {
        spec("model", OptionType::String, std::monostate{}, "name of the model resource", true).names_resource("model"),
        spec("name", OptionType::String, std::string(), "rule set name: <pipeline folder>/rulesets, LRPFLOW_RULESET_PATH, the shipped ones (`lrpflow rulesets`)"),
        spec("file", OptionType::String, std::string(), "rule set file (instead of name)"),
        spec("params", OptionType::StringList, std::vector<std::string>{}, "parameter overrides RULE.PARAM=VALUE"),
    };
    ruleset.create = create_ruleset;
    d.resources.push_back(ruleset);
    return d;
  }();
  return descriptor;
}

}  // namespace

LRPFLOW_PLUGIN("lrp_rules", "1.0.0", describe)
