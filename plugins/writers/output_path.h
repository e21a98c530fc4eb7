// Where a writer stage puts an item's file, shared by the writers of this plugin.
#pragma once

#include <filesystem>
#include <string>

#include "lrpflow/item.h"
#include "lrpflow/options.h"
#include "lrpflow/output_layout.h"
#include "lrpflow/stage.h"
#include "lrpflow/status.h"

namespace lrpflow::writers {

// The options every writer has: slot, kind, suffix, dir (see writer_options()).
struct OutputNaming {
  std::string slot;
  std::string kind;    // the manifest's kind of the file (default: the slot name)
  std::string suffix;  // appended to the item id (default: ".<slot><extension>")
  std::string dir;     // subfolder of the item's place in the layout ("" = that place itself)
  ItemFiles files;     // the run's output dir and layout

  static Result<OutputNaming> from(const StageContext& ctx, const std::string& extension);

  // The file's path relative to the output dir: <item's place>/<dir>/<safe id><suffix>, where the
  // item's place is items/<safe id>/ (layout per_item) or the output dir (flat).
  std::string relative_path(const Item& item) const;
};

std::vector<OptionSpec> writer_options(const std::string& extension, const std::string& slot_help);

}  // namespace lrpflow::writers
