// Output layout: where in the run's output directory an item's files go.
//
// `per_item` (the default of pipelines): every item has its own folder,
//   DIR/items/<safe id>/<safe id><suffix>      e.g. items/t10k-00000/t10k-00000.heatmap.png
// so that 10,000 items leave 10,000 folders under items/ instead of 500,000 files in DIR.
// `flat` (`output.layout: flat`): DIR/<safe id><suffix>, every item's files side by side.
// Run-level files (fidelity_sweep.csv, the report, manifests) stay in DIR in both layouts.
// Every stage builds item file names through ItemFiles, so the layout is one decision, and every
// piece of a file name that comes from an item, a model or an option (an item id, a layer name, a
// slot) goes through safe_name_component(), so no such text can name a place outside the output
// directory or make two inputs share a file (docs/report.md, "File names").
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>

#include "lrpflow/status.h"

namespace lrpflow {

enum class OutputLayout { PerItem, Flat };

// "per_item" or "flat"; the error lists both.
Result<OutputLayout> parse_output_layout(std::string_view name);
const char* output_layout_name(OutputLayout layout);

// Any text as one file name component, stable across runs and machines: '/', '\\', ':', control
// characters and bytes that are not UTF-8 become '_'; "", "." and ".." get a leading '_'; more
// than kMaxNameComponentBytes bytes are cut. Text that is changed at all gets "-" and 8 hex digits
// of a hash of the original, so that "a/b", "a:b" and "a_b" stay three names (a_b-<hash>,
// a_b-<other hash>, a_b); text that needs no change is kept as it is.
std::string safe_name_component(std::string_view text);
constexpr std::size_t kMaxNameComponentBytes = 96;  // two of them and a suffix fit NAME_MAX (255)

// The path of item `item_id`'s file `<safe id><suffix>`, relative to the output directory, in
// `subdir` (a relative folder; "" for none) of the item's place. Uses '/' as the separator.
// The safe id is safe_name_component(item_id); the suffix and the subdir's parts are only ever
// kept inside one name (any separator or control character in them becomes '_'): text from a
// model or an option that goes into a suffix should pass through safe_name_component() first.
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
  // Where to write that file: output_dir / relative_path, once it is certain to stay inside
  // output_dir (an error naming the path otherwise: an absolute path, or one with "..").
  Result<std::filesystem::path> absolute(const std::string& relative_path) const;
};

}  // namespace lrpflow
