// A plugin entry that claims API version 999: the host must refuse it before calling describe().
#include <cstdlib>

#include "lrpflow/plugin_api.h"

namespace {
const lrpflow::PluginDescriptor& describe_never_called() {
  std::abort();  // the host must not call describe() of a library with another API version
}
const LrpflowPluginInfo* wrong_version_info() {
  static const LrpflowPluginInfo info{999u, "wrong_version", "0.0.1", &describe_never_called};
  return &info;
}
}  // namespace

BOOST_DLL_ALIAS(wrong_version_info, lrpflow_plugin_info)
