// The HTML report of a run: DIR/report/, built from the run's manifest.
//
// write_report() turns a Manifest into static pages that open offline in any browser:
//   report/index.html        the run page (run info, counts, stage timings, errors, run outputs)
//                            and the first page of the item list
//   report/items-<n>.html    further pages of the item list (`items_per_page` items each)
//   report/items/<id>.html   one page per item (images, prediction, metrics, raw files, error)
// Pages carry their CSS inline and load nothing from the network; images are the run's own output
// files, referenced by relative paths (never copied), so the report stays small for 10,000 items
// and is valid only next to the run's outputs. Every string from the manifest is HTML-escaped.
// The meaning of output kinds and metric names is the contract in docs/report.md.
//
// Files are written atomically one by one (a crash leaves older pages, never a half-written one);
// pages of an earlier report that the new one no longer has are removed. Call it from one thread
// at a time per output directory: `lrpflow report DIR` calls it on a finished (or interrupted)
// run; it also works on the manifest of a run still in progress (shown as such).
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "lrpflow/manifest.h"
#include "lrpflow/stage.h"
#include "lrpflow/markup.h"  // html_escape, for callers that build page text
#include "lrpflow/status.h"

namespace lrpflow {

class PluginRegistry;

struct ReportOptions {
  int items_per_page = 100;    // rows of the item list per page (>= 1)
  int max_listed_errors = 500; // the run page's error list stops here (the item list has them all)
  std::string title;           // page title; empty: "lrpflow run: <pipeline file name>"
  // What the stage types say about their outputs (add_stage_vocabulary): the image sections of
  // an item page and the kinds of the item list's thumbnail. Without them the item pages list
  // every file in the Files table only and the item list shows no thumbnail.
  std::vector<ReportSection> sections;
  std::vector<std::string> thumbnail_kinds;
  // Labels and formats of the metrics (StageTypeInfo::report_metrics); other metrics are shown by
  // their names, as numbers. The first matching entry wins.
  std::vector<ReportMetric> metrics;
};

// Adds what every stage type of `registry` declares (StageTypeInfo::report_sections,
// report_thumbnail_kinds and report_metrics) to `options`.
void add_stage_vocabulary(ReportOptions& options, const PluginRegistry& registry);

// Writes DIR/report/ for the run recorded in `manifest` whose outputs live under `output_dir`.
// Output files that do not exist are shown as placeholders naming the file. Errors name the path
// that could not be written (e.g. when DIR/report exists and is not a directory).
Status write_report(const std::filesystem::path& output_dir, const Manifest& manifest,
                    const ReportOptions& options = {});

}  // namespace lrpflow
