// Entry point of the lrpflow_loaders plugin: source stages that read images, .npy files and
// (Fashion-)MNIST IDX files.
#include "loaders.h"
#include "lrpflow/plugin_api.h"

namespace {

const lrpflow::PluginDescriptor& describe_loaders() {
  static const lrpflow::PluginDescriptor descriptor{
      "loaders", "1.0.0",
      {lrpflow::loaders::image_loader_type(), lrpflow::loaders::npy_loader_type(),
       lrpflow::loaders::idx_loader_type()},
      {},
      {}};
  return descriptor;
}

}  // namespace

LRPFLOW_PLUGIN("loaders", "1.0.0", describe_loaders)
