// The `lrpflow` subcommands.
//
// Each subcommand lives in its own cmd_<name>.cpp and registers itself with one
// add_<name>_command() call in main.cpp. A command's callback runs after the command line is
// parsed and stores its exit code in CliGlobals::exit_code (0 ok, 1 items failed, 2 invalid input
// or usage, 130 interrupted; see docs/cli.md).
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "lrpflow/manifest.h"
#include "lrpflow/pipeline.h"
#include "lrpflow/registry.h"
#include "lrpflow/runtime.h"
#include "lrpflow/shard.h"

namespace lrpflow::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitItemsFailed = 1;
inline constexpr int kExitInvalid = 2;
inline constexpr int kExitInterrupted = 130;

// For options whose empty value would otherwise be taken as "not given" (`--out ''` would fall
// back to output.dir): an empty value is a usage error naming the option.
inline const CLI::Validator kNotEmpty(
    [](std::string& value) { return value.empty() ? std::string("the value is empty") : std::string(); }, "", "NOT EMPTY");

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

// `--shard I/N|auto|auto/N` and `--mpi` of `run` and `explain` (docs/scale-out.md).
struct ScaleFlags {
  std::string shard;  // empty: the whole input list
  bool mpi = false;   // one shard per MPI rank, rank 0 merges
};
void add_scale_options(CLI::App& cmd, ScaleFlags& flags);

// `--resume` and `--allow-changed-pipeline` (a bool converts: plain --resume or not).
struct ResumeFlags {
  ResumeFlags(bool resume_items = false) : resume(resume_items) {}  // NOLINT: implicit by design
  bool resume = false;
  bool allow_changed_pipeline = false;  // keep items another configuration produced
};

// Runs a loaded pipeline the way `lrpflow run` does: prints the diagnostics (and returns
// kExitInvalid) when it is invalid; otherwise installs the SIGINT/SIGTERM handlers, shows progress,
// runs, prints the summary and returns the run's exit code. For commands that build a pipeline
// themselves (explain). A bad --shard value, or --mpi without MPI support, is kExitInvalid.
int run_loaded_pipeline(const PipelineLoad& load, PluginRegistry& registry, const ResumeFlags& resume,
                        const ScaleFlags& scale = {});

// Runs one shard (or the whole list) of a valid pipeline: progress, summary, and the HTML report
// for a whole run only. `report_out` (may be null) receives the run's report when it started,
// `start_error` (may be null) why it did not.
int run_pipeline_shard(const Pipeline& pipeline, PluginRegistry& registry, const ResumeFlags& resume, const Shard& shard,
                       std::optional<RunReport>* report_out, std::string* start_error = nullptr);

// The HTML report after a run or merge (cmd_report.cpp): builds DIR/report from `manifest`, logs
// where it is, and returns `exit_code`, raised to kExitItemsFailed when the report could not be
// written. The one place run, merge and --mpi write their report; what the stage types of
// `registry` declare about their outputs (report sections, thumbnails) shapes the pages.
int write_report_after(const std::filesystem::path& dir, const Manifest& manifest, const PluginRegistry& registry,
                       int exit_code);

// `--mpi` (cmd_mpi.cpp): shard = rank/size; rank 0 merges after every rank reported its status.
int run_mpi(const Pipeline& pipeline, PluginRegistry& registry, const ResumeFlags& resume);

void add_plugins_command(CLI::App& app, CliGlobals& globals);
void add_inspect_command(CLI::App& app, CliGlobals& globals);
void add_validate_command(CLI::App& app, CliGlobals& globals);
void add_run_command(CLI::App& app, CliGlobals& globals);
void add_report_command(CLI::App& app, CliGlobals& globals);
void add_model_info_command(CLI::App& app, CliGlobals& globals);
void add_explain_command(CLI::App& app, CliGlobals& globals);
void add_merge_command(CLI::App& app, CliGlobals& globals);
void add_rulesets_command(CLI::App& app, CliGlobals& globals);

}  // namespace lrpflow::cli
