// Helpers for the I/O plugin tests: load the built plugin libraries through the real entry point
// and run their stages through the framework's StageRunner.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "../common/temp_dir.h"
#include "lrpflow/registry.h"
#include "lrpflow/stage_runner.h"

namespace lrpflow::testing {

// The registry with the loaders and writers plugins, loaded from the built .so files once.
inline const PluginRegistry& io_plugins() {
  static const std::unique_ptr<PluginRegistry> registry = [] {
    auto r = std::make_unique<PluginRegistry>();
    for (const char* file : {LRPFLOW_LOADERS_PLUGIN, LRPFLOW_WRITERS_PLUGIN}) {
      const Status status = r->load_library(file);
      if (!status) ADD_FAILURE() << "cannot load " << file << ": " << status.message();
    }
    return r;
  }();
  return *registry;
}

// The YAML of one stage with these option values, as a pipeline would write it.
inline std::string stage_yaml(const std::string& type_name, const std::map<std::string, OptionValue>& values) {
  std::string yaml = "type: " + type_name + "\noptions:";
  if (values.empty()) return yaml + " {}\n";
  for (const auto& [name, value] : values) yaml += "\n  " + name + ": " + format_option_value(value);
  return yaml + "\n";
}

// A stage opened through the framework's StageRunner: the options checked and defaulted by the
// pipeline's own code, the stage created by the plugin's factory.
struct OpenedStage {
  std::unique_ptr<StageRunner> runner;
  Status open_status;
  StageRunner* operator->() { return runner.get(); }
};

inline OpenedStage open_stage(const std::string& type_name, const std::map<std::string, OptionValue>& values,
                              const std::filesystem::path& base_dir, const std::filesystem::path& output_dir = {},
                              OutputLayout layout = OutputLayout::Flat) {
  StageRunnerSetup setup;
  setup.base_dir = base_dir;
  setup.output_dir = output_dir;
  setup.output_layout = layout;
  auto runner = StageRunner::create(io_plugins(), stage_yaml(type_name, values), setup);
  if (!runner) return {nullptr, runner.status()};
  OpenedStage stage{std::move(runner.value()), Status::ok()};
  stage.open_status = stage.runner->open();
  return stage;
}


inline void write_bytes(const std::filesystem::path& path, const std::string& bytes) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Files in `dir` (recursively) whose name contains ".tmp-": leftovers of an unfinished atomic write.
inline std::vector<std::string> temporaries_in(const std::filesystem::path& dir) {
  std::vector<std::string> found;
  std::error_code ec;
  for (std::filesystem::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    if (it->path().filename().string().find(".tmp-") != std::string::npos) found.push_back(it->path().string());
  return found;
}

}  // namespace lrpflow::testing
