// The plugin entry point.
//
// A plugin is a shared library with exactly one entry point, the Boost.DLL alias
// `lrpflow_plugin_info`, which returns an LrpflowPluginInfo. That struct has a fixed C layout whose
// first member is the API version the plugin was built against: the host reads it before touching
// anything else, and refuses the library (naming the file and both versions) when it differs from
// its own. Only then does it call describe(), which returns the C++ descriptor with the plugin's
// stage and resource types and its extensions: types that a domain library defines and plugins
// contribute (the LRP library's rule types, lrpflow/lrp/rule.h). The core keeps extensions by kind
// and name and never looks inside them.
//
// Plugins stay loaded for the life of the process, so the descriptor and everything it points to
// may live in static storage.
//
//   const lrpflow::PluginDescriptor& describe() { static lrpflow::PluginDescriptor d = ...; return d; }
//   LRPFLOW_PLUGIN("my_plugin", "1.0.0", describe)
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <boost/dll/alias.hpp>

#include "lrpflow/resource.h"
#include "lrpflow/stage.h"

// Bump when anything a plugin compiles against changes in a way that breaks binary compatibility:
// the core's headers (these, Item, options) and the interfaces of extension kinds (lrp/rule.h).
// 2: OptionSpec int ranges, CloseContext::for_each_ok_item.
// 3: the core split from the domain libraries: slot types by name, images and selections travel
//    as std::any, rule types as extensions.
// 4: StageTypeInfo::report_metrics and explain_roles.
#define LRPFLOW_PLUGIN_API_VERSION 5u

namespace lrpflow {

// One type of a kind that a domain library defines, e.g. kind "lrp.rule", name "epsilon", and the
// library's own description of it, which only that library reads.
struct ExtensionTypeInfo {
  std::string kind;
  std::string name;
  std::shared_ptr<const void> info;
};

struct PluginDescriptor {
  std::string name;
  std::string version;
  std::vector<StageTypeInfo> stages;
  std::vector<ResourceTypeInfo> resources;
  std::vector<ExtensionTypeInfo> extensions;
};

}  // namespace lrpflow

extern "C" {
struct LrpflowPluginInfo {
  std::uint32_t api_version;  // must stay the first member
  const char* name;
  const char* version;
  const lrpflow::PluginDescriptor& (*describe)();
};
}

#define LRPFLOW_PLUGIN_ENTRY_NAME "lrpflow_plugin_info"

// Defines the plugin's entry point. Use once per plugin library, at namespace scope.
#define LRPFLOW_PLUGIN(NAME, VERSION, DESCRIBE_FN)                                         \
  namespace lrpflow_plugin_entry {                                                          \
  inline const LrpflowPluginInfo* lrpflow_plugin_info_v() {                                 \
    static const LrpflowPluginInfo info{LRPFLOW_PLUGIN_API_VERSION, NAME, VERSION, &DESCRIBE_FN}; \
    return &info;                                                                           \
  }                                                                                         \
  }                                                                                         \
  BOOST_DLL_ALIAS(lrpflow_plugin_entry::lrpflow_plugin_info_v, lrpflow_plugin_info)
