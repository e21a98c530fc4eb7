// `lrpflow inspect TYPE`: the options and slots of a stage type, the options of a resource type,
// or the parameters of a rule type.
#include <algorithm>
#include <cstdio>

#include "commands.h"
#include "lrpflow/log.h"
#include "lrpflow/lrp/rule.h"

namespace lrpflow::cli {
namespace {

void print_options(const char* title, const std::vector<OptionSpec>& options) {
  std::printf("%s:\n", title);
  if (options.empty()) {
    std::printf("  (none)\n");
    return;
  }
  std::size_t name_w = 4, type_w = 4, default_w = 7;
  std::vector<std::string> defaults;
  for (const OptionSpec& o : options) {
    defaults.push_back(o.required ? "(required)" : format_option_value(o.default_value));
    name_w = std::max(name_w, o.name.size());
    type_w = std::max(type_w, std::string(option_type_name(o.type)).size());
    default_w = std::max(default_w, std::min<std::size_t>(defaults.back().size(), 24));
  }
  std::printf("  %-*s  %-*s  %-*s  %s\n", int(name_w), "name", int(type_w), "type", int(default_w), "default", "help");
  for (std::size_t i = 0; i < options.size(); ++i) {
    const OptionSpec& o = options[i];
    std::string help = o.help;
    if (!o.choices.empty()) {
      help += help.empty() ? "one of: " : " (one of: ";
      for (std::size_t c = 0; c < o.choices.size(); ++c) help += (c ? ", " : "") + o.choices[c];
      if (!o.help.empty()) help += ")";
    }
    if (!o.resource_type.empty()) help += " [names a " + o.resource_type + " resource]";
    std::printf("  %-*s  %-*s  %-*s  %s\n", int(name_w), o.name.c_str(), int(type_w), option_type_name(o.type),
                int(default_w), defaults[i].c_str(), help.c_str());
  }
}

void print_slots(const char* title, const std::vector<SlotSpec>& slots) {
  std::printf("  %s:", title);
  if (slots.empty()) std::printf(" (none)");
  std::printf("\n");
  for (const SlotSpec& s : slots) {
    std::printf("    %s (%s)%s%s%s\n", s.name.c_str(), slot_type_name(s.type), s.optional ? ", optional" : "",
                s.help.empty() ? "" : ": ", s.help.c_str());
  }
}

}  // namespace

void add_inspect_command(CLI::App& app, CliGlobals& globals) {
  CLI::App* cmd = app.add_subcommand("inspect", "Show the options and slots of a stage, resource or rule type");
  auto type = std::make_shared<std::string>();
  cmd->add_option("TYPE", *type, "A stage, resource or rule type name (see `lrpflow plugins`)")->required();
  cmd->callback([&globals, type] {
    const PluginRegistry& registry = globals.registry();
    bool found = false;
    if (const StageTypeInfo* s = registry.find_stage(*type)) {
      found = true;
      const LoadedPlugin* plugin = registry.provider_of_stage(*type);
      std::printf("stage type %s", s->type.c_str());
      if (plugin) std::printf(" (plugin %s %s%s%s)", plugin->name.c_str(), plugin->version.c_str(),
                              plugin->file.empty() ? "" : ", ", plugin->file.string().c_str());
      std::printf("\n  %s\n", s->description.c_str());
      std::printf("  role: %s; process(): %s; order: %s\n\n", s->role == StageRole::Source ? "source" : "transform",
                  s->reentrant ? "reentrant (several items at once)" : "one item at a time",
                  s->ordered ? "input order" : "any");
      print_options("options", s->options);
      // Slots may depend on options: show them for the defaults.
      std::map<std::string, OptionValue> defaults;
      for (const OptionSpec& o : s->options) defaults[o.name] = o.default_value;
      std::printf("\nslots (with the default options):\n");
      if (!s->slots) {
        std::printf("  (not declared)\n");
      } else {
        try {
          const SlotDeclaration slots = s->slots(Options(defaults));
          print_slots("reads", slots.reads);
          print_slots("writes", slots.writes);
        } catch (const std::exception& e) {
          std::printf("  (depend on options without a default: %s)\n", exception_message(e).c_str());
        }
      }
    }
    if (const ResourceTypeInfo* r = registry.find_resource(*type)) {
      if (found) std::printf("\n");
      found = true;
      std::printf("resource type %s\n  %s\n\n", r->type.c_str(), r->description.c_str());
      print_options("options", r->options);
    }
    if (const lrp::RuleTypeInfo* r = lrp::find_rule_type(registry, *type)) {
      if (found) std::printf("\n");
      found = true;
      std::printf("rule type %s\n  %s\n\n", r->name.c_str(), r->description.c_str());
      auto kinds = [](const std::vector<lrp::LayerKind>& list) {
        std::string text;
        for (lrp::LayerKind kind : list) text += (text.empty() ? "" : ", ") + std::string(lrp::layer_kind_name(kind));
        return text.empty() ? std::string("none") : text;
      };
      std::printf("  applies to: %s\n", kinds(r->applies_to).c_str());
      if (!r->default_for.empty()) std::printf("  default for: %s (layers no rule set entry matches)\n", kinds(r->default_for).c_str());
      std::printf("\n");
      print_options("params", r->params);
    }
    if (!found) {
      std::vector<std::string> names = registry.stage_type_names();
      for (const auto* r : registry.resources()) names.push_back(r->type);
      for (const auto& n : lrp::rule_type_names(registry)) names.push_back(n);
      const std::string hint = did_you_mean(*type, names);
      log_error("no stage, resource or rule type named '" + *type + "'" +
                (hint.empty() ? " (see `lrpflow plugins`)" : " (did you mean '" + hint + "'?)"));
      globals.exit_code = kExitInvalid;
      return;
    }
    globals.exit_code = kExitOk;
  });
}

}  // namespace lrpflow::cli
