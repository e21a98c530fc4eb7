// A fabricated run directory for the report tests: real PNG/SVG/JSON files and a manifest that
// uses every output kind of docs/report.md, plus the awkward cases (a failed item, missing files,
// an id with markup in it, ids that map to the same file name, an unreadable prediction file).
#pragma once

#include <filesystem>

#include "lrpflow/manifest.h"
#include "lrpflow/report.h"

namespace lrpflow::testing {

// Writes the outputs of `item_count` (>= 6) items into `dir` and returns their manifest; the
// manifest itself is not written. Item 0 is complete (every kind), item 1 failed, item 2 has
// missing output files, item 3's id contains <script>, items 4 and 5 have ids that share a safe
// file name, item 6 (if any) has a corrupt prediction file; the rest are plain ok items.
Manifest write_demo_run(const std::filesystem::path& dir, int item_count);

// Report options with what the shipped plugins (the build tree's) declare about their outputs,
// as `lrpflow report` uses them.
ReportOptions shipped_report_options();

}  // namespace lrpflow::testing
