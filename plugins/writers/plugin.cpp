// Entry point of the lrpflow_writers plugin: stages that write item slots to files.
#include "writers.h"
#include "lrpflow/plugin_api.h"

namespace {

const lrpflow::PluginDescriptor& describe_writers() {
  static const lrpflow::PluginDescriptor descriptor{
      "writers", "1.0.0", {lrpflow::writers::npy_writer_type(), lrpflow::writers::png_writer_type()}, {}, {}};
  return descriptor;
}

}  // namespace

LRPFLOW_PLUGIN("writers", "1.0.0", describe_writers)
