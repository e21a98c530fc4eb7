// Output layout: where in the run's output directory an item's files go.
//
// `per_item` (the default of pipelines): every item has its own folder,
//   DIR/items/<safe id>/<safe id><suffix>      e.g. items/t10k-00000/t10k-00000.heatmap.png
// so that 10,000 items leave 10,000 folders under items/ instead of 500,000 files in DIR.
// `flat` (`output.layout: flat`): DIR/<safe id><suffix>, every item's files side by side.
// Run-level files (fidelity_sweep.csv, the report, manifests) stay in DIR in both layouts.
// Every stage builds item file names through ItemFiles, so the layout is one decision.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "lrpflow/status.h"

namespace lrpflow {

enum class OutputLayout { PerItem, Flat };

// "per_item" or "flat"; the error lists both.
Result<OutputLayout> parse_output_layout(std::string_view name);
const char* output_layout_name(OutputLayout layout);

// The path of item `item_id`'s file `<safe id><suffix>`, relative to the output directory, in
// `subdir` (a relative folder; "" for none) of the item's place. Uses '/' as the separator.
std::string item_output_path(OutputLayout layout, std::string_view item_id, std::string_view suffix,
                             std::string_view subdir = "");

// What a stage needs to name an item's files: the run's output directory and its layout.
struct ItemFiles {
  std::filesystem::path output_dir;
  OutputLayout layout = OutputLayout::Flat;

  // Relative to the output directory: what Item::add_output records.
  std::string relative(std::string_view item_id, std::string_view suffix) const {
    return item_output_path(layout, item_id, suffix);
  }
  // Where to write that file.
  std::filesystem::path absolute(const std::string& relative_path) const { return output_dir / relative_path; }
};

}  // namespace lrpflow
