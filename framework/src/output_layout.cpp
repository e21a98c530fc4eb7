#include "lrpflow/output_layout.h"

#include "lrpflow/files.h"

namespace lrpflow {

Result<OutputLayout> parse_output_layout(std::string_view name) {
  if (name == "per_item") return OutputLayout::PerItem;
  if (name == "flat") return OutputLayout::Flat;
  return Status::error("unknown output layout '" + std::string(name) + "' (expected per_item or flat)");
}

const char* output_layout_name(OutputLayout layout) {
  return layout == OutputLayout::PerItem ? "per_item" : "flat";
}

std::string item_output_path(OutputLayout layout, std::string_view item_id, std::string_view suffix,
                             std::string_view subdir) {
  const std::string stem = safe_file_stem(item_id);
  std::string path;
  if (layout == OutputLayout::PerItem) path = "items/" + stem + "/";
  if (!subdir.empty()) path += std::string(subdir) + "/";
  return path + stem + std::string(suffix);
}

}  // namespace lrpflow
