#include "output_path.h"

#include "lrpflow/files.h"

namespace lrpflow::writers {
namespace fs = std::filesystem;

Result<OutputNaming> OutputNaming::from(const Options& options, const std::string& extension) {
  OutputNaming naming;
  naming.slot = options.get_string("slot");
  naming.kind = options.get_string("kind");
  naming.suffix = options.get_string("suffix");
  naming.dir = options.get_string("dir");
  if (naming.slot.empty()) return Status::error("slot must not be empty");
  if (naming.kind.empty()) naming.kind = naming.slot;
  if (naming.suffix.empty()) naming.suffix = "." + safe_file_stem(naming.slot) + extension;
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

fs::path OutputNaming::relative_path(const Item& item) const {
  return fs::path(dir) / (safe_file_stem(item.id()) + suffix);
}

std::vector<OptionSpec> writer_options(const std::string& extension, const std::string& slot_help) {
  return {
      {"slot", OptionType::String, {}, slot_help, true, {}},
      {"kind", OptionType::String, std::string(""), "kind of the output in the manifest (default: the slot name)", false, {}},
      {"suffix", OptionType::String, std::string(""), "file name suffix after the item id (default: .<slot>" + extension + ")", false, {}},
      {"dir", OptionType::String, std::string(""), "subfolder of the output directory (default: the output directory)", false, {}},
  };
}

}  // namespace lrpflow::writers
