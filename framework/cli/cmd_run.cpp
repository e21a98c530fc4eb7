// `lrpflow run FILE [--set k=v]... [--out DIR] [--threads N] [--max-in-flight N] [--resume [--allow-changed-pipeline]]
//              [--shard I/N|auto] [--mpi]`.
#include <csignal>
#include <cstdio>

#include "commands.h"
#include "lrpflow/log.h"
#include "lrpflow/pipeline.h"
#include "lrpflow/progress.h"
#include "lrpflow/report.h"
#include "lrpflow/runtime.h"

namespace lrpflow::cli {
namespace {

// Set from the signal handler; the runtime polls them (before emitting each item; a watcher thread).
std::atomic<bool> g_stop_requested{false};
std::atomic<bool> g_quit_requested{false};
static_assert(std::atomic<bool>::is_always_lock_free, "the signal handler needs a lock-free flag");

// The first signal asks for a clean stop; a second one to quit now, after writing the manifest of
// what is done; a third (the manifest write is stuck) ends the process the default way.
extern "C" void request_stop(int signal_number) {
  if (!g_stop_requested.exchange(true)) return;
  if (!g_quit_requested.exchange(true)) return;
  std::signal(signal_number, SIG_DFL);
  std::raise(signal_number);
}

void install_stop_handlers() {
  struct sigaction action {};
  action.sa_handler = request_stop;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

}  // namespace

void add_run_command(CLI::App& app, CliGlobals& globals) {
  CLI::App* cmd = app.add_subcommand("run", "Run a pipeline");
  struct Args {
    std::string file;
    std::vector<std::string> sets;
    std::string out;
    int threads = 0;
    int max_in_flight = 0;
    bool resume = false;
    bool allow_changed_pipeline = false;
    ScaleFlags scale;
  };
  auto args = std::make_shared<Args>();
  cmd->add_option("FILE", args->file, "Pipeline YAML file")->required();
  cmd->add_option("--set", args->sets, "Override a value: key.path=value (repeatable)")
      ->type_name("KEY=VALUE")
      ->allow_extra_args(false);
  cmd->add_option("--out", args->out, "Output directory (overrides output.dir)")->type_name("DIR")->check(kNotEmpty);
  CLI::Option* threads =
      cmd->add_option("--threads", args->threads, "Worker threads (overrides runtime.threads)")->type_name("N");
  CLI::Option* max_in_flight =
      cmd->add_option("--max-in-flight", args->max_in_flight,
                      "Items in the graph at once (overrides runtime.max_in_flight)")
          ->type_name("N");
  cmd->add_flag("--resume", args->resume, "Skip items the existing manifest records as done");
  cmd->add_flag("--allow-changed-pipeline", args->allow_changed_pipeline,
                "With --resume: keep items done by another pipeline or other --set values (each item records its "
                "configuration) instead of refusing");
  add_scale_options(*cmd, args->scale);
  cmd->callback([&globals, args, threads, max_in_flight] {
    auto parsed = parse_overrides(args->sets);
    if (!parsed) {
      log_error(parsed.status().message());
      globals.exit_code = kExitInvalid;
      return;
    }
    std::vector<Override> overrides = parsed.value();
    // The dedicated flags are overrides too, so they are checked like any other value.
    if (threads->count() > 0) {
      overrides.push_back({"runtime.threads", std::to_string(args->threads), "--threads " + std::to_string(args->threads)});
    }
    if (max_in_flight->count() > 0) {
      overrides.push_back({"runtime.max_in_flight", std::to_string(args->max_in_flight),
                           "--max-in-flight " + std::to_string(args->max_in_flight)});
    }
    if (!args->out.empty()) overrides.push_back({"output.dir", args->out, "--out " + args->out, true});

    if (args->allow_changed_pipeline && !args->resume) {
      log_error("--allow-changed-pipeline: only meaningful with --resume");
      globals.exit_code = kExitInvalid;
      return;
    }
    ResumeFlags resume(args->resume);
    resume.allow_changed_pipeline = args->allow_changed_pipeline;
    PluginRegistry& registry = globals.registry();
    globals.exit_code = run_loaded_pipeline(load_pipeline(args->file, overrides, registry), registry, resume, args->scale);
  });
}

void add_scale_options(CLI::App& cmd, ScaleFlags& flags) {
  cmd.add_option("--shard", flags.shard,
                 "Run only shard I of N (0-based; items at positions k with k mod N == I); auto: I and N from "
                 "Slurm, Kubernetes, Open MPI or PMI; auto/N: I from there, N given")
      ->type_name("I/N|auto|auto/N")
      ->check(kNotEmpty);
  cmd.add_flag("--mpi", flags.mpi, "Under mpirun: one shard per rank, rank 0 merges (needs a build with MPI)");
}

int run_loaded_pipeline(const PipelineLoad& load, PluginRegistry& registry, const ResumeFlags& resume, const ScaleFlags& scale) {
  Shard shard;
  if (scale.mpi && !scale.shard.empty()) {
    log_error("--mpi and --shard exclude each other: under --mpi the shard is the MPI rank");
    return kExitInvalid;
  }
  if (!scale.shard.empty()) {
    auto parsed = parse_shard(scale.shard);
    if (!parsed) {
      log_error(parsed.status().message());
      return kExitInvalid;
    }
    shard = parsed.value();
    if (scale.shard.rfind("auto", 0) == 0) {
      log_info("--shard " + scale.shard + ": shard " + std::to_string(shard.index) + "/" + std::to_string(shard.count) +
               " from " + shard.source);
    }
  }
  for (const Diagnostic& d : load.diagnostics) std::fprintf(stderr, "%s\n", d.to_string().c_str());
  if (!load.ok()) return kExitInvalid;
  if (scale.mpi) return run_mpi(*load.pipeline, registry, resume);
  return run_pipeline_shard(*load.pipeline, registry, resume, shard, nullptr);
}

int run_pipeline_shard(const Pipeline& pipeline, PluginRegistry& registry, const ResumeFlags& resume, const Shard& shard,
                       std::optional<RunReport>* report_out, std::string* start_error) {
  log_info("running " + pipeline.file.string() + " with " + std::to_string(pipeline.runtime.threads) +
           (pipeline.runtime.threads == 1 ? " thread" : " threads") + ", output in " + pipeline.output_dir.string());

  install_stop_handlers();
  ProgressDisplay display;
  RunOptions options;
  options.resume = resume.resume;
  options.allow_changed_pipeline = resume.allow_changed_pipeline;
  options.stop_requested = &g_stop_requested;
  options.quit_requested = &g_quit_requested;
  options.on_progress = [&display](const RunProgress& p) { display.update(p); };
  options.shard = shard;
  auto report = run_pipeline(pipeline, registry, options);
  display.finish();
  if (!report) {
    log_error(report.status().message());
    if (start_error) *start_error = report.status().message();
    return g_stop_requested.load() ? kExitInterrupted : kExitInvalid;
  }
  if (report_out) *report_out = report.value();
  print_run_summary(report.value());
  int exit_code = report.value().exit_code();
  if (pipeline.write_report && !shard.is_whole()) {
    log_info("report: not built for one shard; `lrpflow merge " + report.value().output_dir.string() +
             "` builds it over all shards");
  } else if (pipeline.write_report) {
    // The report is built from the manifest just written, so it shows exactly what the run recorded.
    auto manifest = read_manifest(report.value().manifest_path);
    if (!manifest) {
      log_error("report: " + manifest.status().message());
      exit_code = std::max(exit_code, kExitItemsFailed);
    } else {
      exit_code = write_report_after(report.value().output_dir, manifest.value(), registry, exit_code);
    }
  }
  return exit_code;
}

}  // namespace lrpflow::cli
