#include "output_path.h"


namespace lrpflow::writers {
namespace fs = std::filesystem;

Result<OutputNaming> OutputNaming::from(const StageContext& ctx, const std::string& extension) {
  const Options& options = ctx.options;
  OutputNaming naming;
  naming.files = ctx.item_files();
  naming.slot = options.get_string("slot");
  naming.kind = options.get_string("kind");
  naming.suffix = options.get_string("suffix");
  naming.dir = options.get_string("dir");
  if (naming.slot.empty()) return Status::error("slot must not be empty");
  if (naming.kind.empty()) naming.kind = naming.slot;
  if (naming.suffix.empty()) naming.suffix = "." + safe_name_component(naming.slot) + extension;
  if (naming.suffix.find('/') != std::string::npos)
    return Status::error("suffix '" + naming.suffix + "' must not contain '/' (use the dir option)");
  // Outputs stay inside the run's output directory.
  const fs::path dir = fs::path(naming.dir).lexically_normal();
  if (dir.is_absolute() || (!dir.empty() && *dir.begin() == ".."))
    return Status::error("dir '" + naming.dir + "' must be a relative path inside the output directory");
  naming.dir = dir.generic_string();
  if (naming.dir == ".") naming.dir.clear();
  return naming;
}

std::string OutputNaming::relative_path(const Item& item) const {
  return item_output_path(files.layout, item.id(), suffix, dir);
}

std::vector<OptionSpec> writer_options(const std::string& extension, const std::string& slot_help) {
  return {
      {"slot", OptionType::String, {}, slot_help, true, {}},
      {"kind", OptionType::String, std::string(""), "kind of the output in the manifest (default: the slot name)", false, {}},
      {"suffix", OptionType::String, std::string(""), "file name suffix after the item id (default: .<slot>" + extension + ")", false, {}},
      {"dir", OptionType::String, std::string(""), "subfolder of the item's folder (layout per_item) or of the output directory (flat)", false, {}},
  };
}

}  // namespace lrpflow::writers
