// Where a writer stage puts an item's file, shared by the writers of this plugin.
#pragma once

#include <filesystem>
#include <string>

#include "lrpflow/item.h"
#include "lrpflow/options.h"
#include "lrpflow/status.h"

namespace lrpflow::writers {

// The options every writer has: slot, kind, suffix, dir (see writer_options()).
struct OutputNaming {
  std::string slot;
  std::string kind;    // the manifest's kind of the file (default: the slot name)
  std::string suffix;  // appended to the item id (default: ".<slot><extension>")
  std::string dir;     // subfolder of the run's output dir ("" = the output dir itself)

  static Result<OutputNaming> from(const Options& options, const std::string& extension);

  // The file's path relative to the output dir: <dir>/<safe id><suffix>.
  std::filesystem::path relative_path(const Item& item) const;
};

std::vector<OptionSpec> writer_options(const std::string& extension, const std::string& slot_help);

}  // namespace lrpflow::writers
