// Shared helpers of the framework tests: a registry with the test plugins, temporary directories,
// and pipelines from text.
#pragma once

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "../common/temp_dir.h"
#include "lrpflow/pipeline.h"
#include "lrpflow/registry.h"

namespace lrpflow::testing {

// The registry with the test plugin loaded (once per process: plugins stay loaded anyway).
inline const PluginRegistry& test_registry() {
  static PluginRegistry* registry = [] {
    auto* r = new PluginRegistry();
    r->load_directories({LRPFLOW_TEST_PLUGIN_DIR});
    return r;
  }();
  return *registry;
}


inline PipelineLoad parse(const std::string& text, const std::vector<Override>& overrides = {},
                          const std::string& file = "p.yaml") {
  return parse_pipeline(text, file, overrides, test_registry());
}

inline Override set(const std::string& assignment) {
  auto o = parse_override(assignment);
  EXPECT_TRUE(o.is_ok()) << o.status().message();
  return o.value();
}

inline std::string all_messages(const PipelineLoad& load) {
  std::string out;
  for (const Diagnostic& d : load.diagnostics) out += d.to_string() + "\n";
  return out;
}

}  // namespace lrpflow::testing
