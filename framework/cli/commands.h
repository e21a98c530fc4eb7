// The `lrpflow` subcommands.
//
// Each subcommand lives in its own cmd_<name>.cpp and registers itself with one
// add_<name>_command() call in main.cpp. A command's callback runs after the command line is
// parsed and stores its exit code in CliGlobals::exit_code (0 ok, 1 items failed, 2 invalid input
// or usage, 130 interrupted; see docs/cli.md).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "lrpflow/pipeline.h"
#include "lrpflow/registry.h"

namespace lrpflow::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitItemsFailed = 1;
inline constexpr int kExitInvalid = 2;
inline constexpr int kExitInterrupted = 130;

struct CliGlobals {
  std::vector<std::string> plugin_paths;  // --plugin-path, in order
  int verbose = 0;                        // -v count
  bool quiet = false;                     // -q
  int exit_code = kExitOk;

  // The plugin registry, loaded on first use from --plugin-path and the default search path.
  // Libraries that were skipped are logged as warnings (`lrpflow plugins` lists them itself).
  PluginRegistry& registry(bool warn_about_problems = true);

 private:
  std::unique_ptr<PluginRegistry> registry_;
};

// Runs a loaded pipeline the way `lrpflow run` does: prints the diagnostics (and returns
// kExitInvalid) when it is invalid; otherwise installs the SIGINT/SIGTERM handlers, shows progress,
// runs, prints the summary and returns the run's exit code. For commands that build a pipeline
// themselves (explain).
int run_loaded_pipeline(const PipelineLoad& load, PluginRegistry& registry, bool resume);

void add_plugins_command(CLI::App& app, CliGlobals& globals);
void add_inspect_command(CLI::App& app, CliGlobals& globals);
void add_validate_command(CLI::App& app, CliGlobals& globals);
void add_run_command(CLI::App& app, CliGlobals& globals);
void add_report_command(CLI::App& app, CliGlobals& globals);
void add_model_info_command(CLI::App& app, CliGlobals& globals);
void add_explain_command(CLI::App& app, CliGlobals& globals);

}  // namespace lrpflow::cli
