// Helpers for the I/O plugin tests: load the built plugin libraries through the real entry point,
// build Options the way the host does (declared defaults plus the given values), run stages.
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

// Options as the host hands them to a stage: every declared default, overridden by `values`.
// An override that the schema does not declare fails the test (it would be a YAML error).
inline Options options_for(const StageTypeInfo& type, const std::map<std::string, OptionValue>& values) {
  std::map<std::string, OptionValue> all;
  for (const OptionSpec& spec : type.options)
    if (!std::holds_alternative<std::monostate>(spec.default_value)) all[spec.name] = spec.default_value;
  for (const auto& [name, value] : values) {
    bool declared = false;
    for (const OptionSpec& spec : type.options) declared = declared || spec.name == name;
    EXPECT_TRUE(declared) << "stage type " << type.type << " declares no option '" << name << "'";
    all[name] = value;
  }
  return Options(std::move(all));
}

// A stage instance created through the plugin's factory, opened with the given options.
struct OpenedStage {
  std::unique_ptr<StageInstance> instance;
  Status open_status;
  StageInstance* operator->() { return instance.get(); }
};

inline OpenedStage open_stage(const std::string& type_name, const std::map<std::string, OptionValue>& values,
                              const std::filesystem::path& base_dir, const std::filesystem::path& output_dir = {},
                              OutputLayout layout = OutputLayout::Flat) {
  const StageTypeInfo* type = io_plugins().find_stage(type_name);
  if (!type) {
    ADD_FAILURE() << "no stage type " << type_name;
    return {};
  }
  StageContext ctx;
  ctx.stage_id = "test_" + type_name;
  ctx.stage_type = type_name;
  ctx.options = options_for(*type, values);
  ctx.base_dir = base_dir;
  ctx.output_dir = output_dir;
  ctx.output_layout = layout;
  OpenedStage stage{type->create(), Status::ok()};
  stage.open_status = stage.instance->open(ctx);
  return stage;
}

using TempDir = lrpflow::test_common::TempDir;

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
