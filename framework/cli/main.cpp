// lrpflow: runs LRP pipelines described in YAML (see docs/cli.md).
#include <CLI/CLI.hpp>

#include "commands.h"
#include "lrpflow/log.h"
#include "lrpflow/manifest.h"

namespace lrpflow::cli {

PluginRegistry& CliGlobals::registry(bool warn_about_problems) {
  if (!registry_) {
    registry_ = std::make_unique<PluginRegistry>();
    std::vector<std::filesystem::path> extra(plugin_paths.begin(), plugin_paths.end());
    const auto dirs = PluginRegistry::search_path(extra);
    for (const auto& dir : dirs) log_debug("plugin directory: " + dir.string());
    registry_->load_directories(dirs);
    if (warn_about_problems) {
      for (const std::string& problem : registry_->problems()) log_warn(problem);
    }
  }
  return *registry_;
}

}  // namespace lrpflow::cli

int main(int argc, char** argv) {
  using namespace lrpflow;
  using namespace lrpflow::cli;
  CLI::App app{"lrpflow: Layer-wise Relevance Propagation pipelines"};
  app.require_subcommand(1);
  app.set_version_flag("--version", lrpflow_version());
  app.fallthrough();  // inherited by the subcommands: `lrpflow run x.yaml -q` works
  CliGlobals globals;
  app.add_option("--plugin-path", globals.plugin_paths, "Directory with plugin libraries (repeatable; searched first)")
      ->type_name("DIR")
      ->allow_extra_args(false);  // one value per --plugin-path, so it cannot swallow FILE
  app.add_flag("-v,--verbose", globals.verbose, "More output (debug messages)");
  app.add_flag("-q,--quiet", globals.quiet, "Only warnings and errors; no progress line or summary");
  // Global options are read before any subcommand callback runs.
  app.parse_complete_callback([&] {
    if (globals.quiet) {
      set_log_level(LogLevel::Warn);
    } else if (globals.verbose > 0) {
      set_log_level(LogLevel::Debug);
    }
  });

  add_plugins_command(app, globals);
  add_inspect_command(app, globals);
  add_validate_command(app, globals);
  add_run_command(app, globals);
  add_report_command(app, globals);
  add_model_info_command(app, globals);
  add_explain_command(app, globals);
  add_merge_command(app, globals);
  add_rulesets_command(app, globals);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? kExitOk : kExitInvalid;
  }
  return globals.exit_code;
}
