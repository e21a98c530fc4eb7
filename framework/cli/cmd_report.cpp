// `lrpflow report DIR`: (re)builds DIR/report/ from DIR/manifest.json (see docs/report.md).
#include <algorithm>
#include <cstdio>

#include "commands.h"
#include "lrpflow/log.h"
#include "lrpflow/manifest.h"
#include "lrpflow/registry.h"
#include "lrpflow/report.h"

namespace lrpflow::cli {

int write_report_after(const std::filesystem::path& dir, const Manifest& manifest, const PluginRegistry& registry,
                       int exit_code) {
  ReportOptions options;
  add_stage_vocabulary(options, registry);
  if (Status written = write_report(dir, manifest, options); !written) {
    log_error("report: " + written.message());
    return std::max(exit_code, kExitItemsFailed);
  }
  log_info("report: " + (dir / "report" / "index.html").string());
  return exit_code;
}

void add_report_command(CLI::App& app, CliGlobals& globals) {
  CLI::App* cmd = app.add_subcommand("report", "Build the HTML report of a run from DIR/manifest.json");
  struct Args {
    std::string dir;
    ReportOptions options;
  };
  auto args = std::make_shared<Args>();
  cmd->add_option("DIR", args->dir, "The run's output directory (holds manifest.json)")->required()->check(kNotEmpty);
  cmd->add_option("--items-per-page", args->options.items_per_page, "Rows per page of the item list")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--title", args->options.title, "Page title (default: from the pipeline file name)");
  cmd->callback([&globals, args] {
    const std::filesystem::path dir(args->dir);
    const Result<Manifest> manifest = read_manifest(dir / "manifest.json");
    if (!manifest) {
      log_error(manifest.status().message());
      globals.exit_code = kExitInvalid;
      return;
    }
    // An edited manifest may name files outside DIR: the report shows them as missing.
    if (Status paths = check_manifest_paths(manifest.value(), dir, (dir / "manifest.json").string()); !paths) {
      log_warn(paths.message() + "; the report neither reads nor links it");
    }
    ReportOptions options = args->options;
    add_stage_vocabulary(options, globals.registry());
    const Status written = write_report(dir, manifest.value(), options);
    if (!written) {
      log_error(written.message());
      globals.exit_code = kExitInvalid;
      return;
    }
    if (!globals.quiet) std::printf("%s\n", (dir / "report" / "index.html").string().c_str());
    globals.exit_code = kExitOk;
  });
}

}  // namespace lrpflow::cli
