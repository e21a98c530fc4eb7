// `lrpflow plugins`: what the loaded plugins provide.
#include <algorithm>
#include <cstdio>

#include "commands.h"
#include "lrpflow/log.h"
#include "lrpflow/lrp/rule.h"

namespace lrpflow::cli {

void add_plugins_command(CLI::App& app, CliGlobals& globals) {
  CLI::App* cmd = app.add_subcommand("plugins", "List the stage, resource and rule types of the loaded plugins");
  cmd->callback([&globals] {
    PluginRegistry& registry = globals.registry(false);
    for (const std::string& problem : registry.problems()) log_warn("skipped: " + problem);

    std::size_t width = 4;
    for (const auto* s : registry.stages()) width = std::max(width, s->type.size());
    for (const auto* r : registry.resources()) width = std::max(width, r->type.size());
    for (const auto* r : lrp::rule_types(registry)) width = std::max(width, r->name.size());
    const int w = static_cast<int>(width);

    std::printf("Stage types:\n");
    if (registry.stages().empty()) {
      std::string searched;
      for (const auto& dir : PluginRegistry::search_path({globals.plugin_paths.begin(), globals.plugin_paths.end()}))
        searched += (searched.empty() ? "" : ", ") + dir.string();
      std::printf("  (none: no plugin found in %s; use --plugin-path or LRPFLOW_PLUGIN_PATH)\n",
                  searched.empty() ? "any folder" : searched.c_str());
    }
    for (const StageTypeInfo* s : registry.stages()) {
      const LoadedPlugin* plugin = registry.provider_of_stage(s->type);
      std::string flags = s->role == StageRole::Source ? "source" : "";
      if (s->ordered) flags += flags.empty() ? "ordered" : ", ordered";
      std::printf("  %-*s  %-12s %s%s\n", w, s->type.c_str(), plugin ? plugin->name.c_str() : "?",
                  s->description.c_str(), flags.empty() ? "" : (" [" + flags + "]").c_str());
    }
    std::printf("\nResource types:\n");
    if (registry.resources().empty()) std::printf("  (none)\n");
    for (const ResourceTypeInfo* r : registry.resources()) {
      std::printf("  %-*s  %s\n", w, r->type.c_str(), r->description.c_str());
    }
    std::printf("\nRule types:\n");
    if (lrp::rule_types(registry).empty()) std::printf("  (none)\n");
    for (const lrp::RuleTypeInfo* r : lrp::rule_types(registry)) {
      std::printf("  %-*s  %s\n", w, r->name.c_str(), r->description.c_str());
    }
    std::printf("\nPlugins:\n");
    if (registry.plugins().empty()) std::printf("  (none)\n");
    for (const LoadedPlugin& p : registry.plugins()) {
      std::printf("  %s %s  %s\n", p.name.c_str(), p.version.c_str(), p.file.string().c_str());
    }
    globals.exit_code = kExitOk;
  });
}

}  // namespace lrpflow::cli
