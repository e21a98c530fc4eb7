// Shared helpers of the framework tests: a registry with the test plugins, temporary directories,
// and pipelines from text.
#pragma once

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "lrpflow/pipeline.h"
#include "lrpflow/registry.h"

namespace lrpflow::test {

// The registry with the test plugin loaded (once per process: plugins stay loaded anyway).
inline const PluginRegistry& test_registry() {
  static PluginRegistry* registry = [] {
    auto* r = new PluginRegistry();
    r->load_directories({LRPFLOW_TEST_PLUGIN_DIR});
    return r;
  }();
  return *registry;
}

// A fresh directory under the system temp dir, removed when the object goes away.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            ("lrpflow-fw-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

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

}  // namespace lrpflow::test
