// `lrpflow rulesets`: the rule sets a name finds (`--rules NAME`, a ruleset resource's `name:`),
// with the file each comes from.
#include <algorithm>
#include <cstdio>

#include "commands.h"
#include "lrpflow/lrp/ruleset.h"

namespace lrpflow::cli {

void add_rulesets_command(CLI::App& app, CliGlobals& globals) {
  CLI::App* cmd = app.add_subcommand("rulesets", "List the rule sets that can be named, and the file each is found in");
  cmd->callback([&globals] {
    std::printf("Rule set folders, searched in this order (the first file of a name wins):\n");
    for (const auto& dir : lrp::ruleset_search_path()) std::printf("  %s\n", dir.string().c_str());
    std::printf("  (a pipeline's ruleset resource first searches <pipeline folder>/rulesets)\n\nRule sets:\n");
    const auto named = lrp::named_rulesets();
    if (named.empty()) std::printf("  (none found)\n");
    std::size_t width = 4;
    for (const auto& entry : named) width = std::max(width, entry.name.size());
    for (const auto& entry : named) {
      // The description, or why the file cannot be used: naming it would fail the same way.
      auto spec = lrp::load_ruleset_file(entry.file);
      const std::string about = spec ? spec.value().description : "invalid: " + spec.status().message();
      std::printf("  %-*s  %s\n  %-*s  %s\n", static_cast<int>(width), entry.name.c_str(), entry.file.string().c_str(),
                  static_cast<int>(width), "", about.c_str());
      for (const auto& hidden : entry.hidden)
        std::printf("  %-*s  hides %s\n", static_cast<int>(width), "", hidden.string().c_str());
    }
    globals.exit_code = kExitOk;
  });
}

}  // namespace lrpflow::cli
