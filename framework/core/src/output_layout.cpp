#include "lrpflow/output_layout.h"

#include "lrpflow/manifest.h"
#include "lrpflow/utf8.h"

namespace lrpflow {
namespace fs = std::filesystem;

namespace {

// `text` with everything that cannot be part of a file name component on its own replaced by
// '_': path separators, ':' (a drive or stream separator elsewhere), control characters and
// bytes that are not UTF-8 (the manifest and the report are UTF-8).
std::string name_characters(std::string_view text) {
  std::string name = utf8_with_replacement(text, "_");
  for (char& c : name) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f || c == '/' || c == '\\' || c == ':') c = '_';
  }
  return name;
}

}  // namespace

Result<OutputLayout> parse_output_layout(std::string_view name) {
  if (name == "per_item") return OutputLayout::PerItem;
  if (name == "flat") return OutputLayout::Flat;
  return Status::error("unknown output layout '" + std::string(name) + "' (expected per_item or flat)");
}

const char* output_layout_name(OutputLayout layout) {
  return layout == OutputLayout::PerItem ? "per_item" : "flat";
}

std::string safe_name_component(std::string_view text) {
  std::string name = name_characters(text);
  if (name.empty() || name == "." || name == "..") name = "_" + name;
  if (name.size() > kMaxNameComponentBytes) {
    std::size_t cut = kMaxNameComponentBytes;
    while (cut > 0 && (static_cast<unsigned char>(name[cut]) & 0xC0) == 0x80) --cut;  // not inside a character
    name.resize(cut);
  }
  if (name == text) return name;
  // Changed: the hash of the original keeps texts apart that were changed into the same name.
  const std::string hash = fingerprint(text);
  return name + "-" + hash.substr(hash.size() - 8);
}

std::string item_output_path(OutputLayout layout, std::string_view item_id, std::string_view suffix,
                             std::string_view subdir) {
  const std::string stem = safe_name_component(item_id);
  std::string path;
  if (layout == OutputLayout::PerItem) path = "items/" + stem + "/";
  for (const fs::path& part : fs::path(std::string(subdir))) {
    const std::string name = part.string();
    if (name.empty() || name == "." || name == "/") continue;
    path += (name == ".." ? "_.." : name_characters(name)) + "/";
  }
  return path + stem + name_characters(suffix);
}

Result<fs::path> ItemFiles::absolute(const std::string& relative_path) const {
  const fs::path relative(relative_path);
  bool inside = !relative_path.empty() && !relative.has_root_path();
  for (const fs::path& part : relative) inside = inside && part != "..";
  if (!inside) {
    return Status::error("internal: output file '" + escape_invalid_utf8(relative_path) + "' would not be inside the output directory " +
                         output_dir.string());
  }
  return output_dir / relative;
}

}  // namespace lrpflow
