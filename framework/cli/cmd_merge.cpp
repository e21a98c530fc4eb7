// `lrpflow merge DIR [--count N]`: combines the shard manifests of a sharded run into
// DIR/manifest.json, merges the run-level CSVs and builds the HTML report (see lrpflow/shard_merge.h and
// docs/scale-out.md).
#include "lrpflow/shard_merge.h"

#include <algorithm>
#include <cstdio>
#include <regex>
#include <set>

#include <fmt/format.h>

#include "commands.h"
#include "lrpflow/csv.h"
#include "lrpflow/files.h"
#include "lrpflow/log.h"
#include "lrpflow/report.h"
#include "lrpflow/shard.h"

namespace lrpflow::cli {
namespace fs = std::filesystem;

void add_merge_command(CLI::App& app, CliGlobals& globals) {
  CLI::App* cmd = app.add_subcommand("merge", "Combine the shard manifests in DIR into DIR/manifest.json and build the report");
  struct Args {
    std::string dir;
    std::int64_t count = 0;
    bool report = true;
  };
  auto args = std::make_shared<Args>();
  cmd->add_option("DIR", args->dir, "The output directory the shards wrote into")->required()->check(kNotEmpty);
  cmd->add_option("--count", args->count, "Number of shards to expect (default: from the manifests found)")
      ->check(CLI::PositiveNumber);
  // A callback flag: a negated bool flag ("!--no-report") would show its default as "{false}" in --help.
  cmd->add_flag_callback("--no-report", [args] { args->report = false; }, "Do not build the HTML report");
  cmd->callback([&globals, args] {
    const fs::path dir(args->dir);
    MergeOptions options;
    options.shard_count = args->count;
    options.mean_csv_keys = mean_csv_keys(globals.registry());
    auto merged = merge_shards(dir, options);
    if (!merged) {
      log_error("merge: " + merged.status().message());
      globals.exit_code = kExitInvalid;
      return;
    }
    for (const std::string& warning : merged.value().warnings) log_warn("merge: " + warning);
    const Manifest& manifest = merged.value().manifest;
    log_info("merged " + std::to_string(manifest.items.size()) + " items (" + std::to_string(merged.value().items_failed) +
             " failed) into " + (dir / "manifest.json").string());
    globals.exit_code = merged.value().items_failed > 0 ? kExitItemsFailed : kExitOk;
    if (args->report) globals.exit_code = write_report_after(dir, manifest, globals.registry(), globals.exit_code);
  });
}

}  // namespace lrpflow::cli
