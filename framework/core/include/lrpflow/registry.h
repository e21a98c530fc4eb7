// PluginRegistry: finds, loads and indexes plugin libraries.
//
// Search order: --plugin-path entries, then LRPFLOW_PLUGIN_PATH (colon-separated), then the build
// tree's plugin folder, then the install tree's. A library that is not an lrpflow plugin, or was
// built for another API version, is skipped and reported by file name (problems()); it never stops
// the process. A type name provided by two libraries: the first one found wins, the second is
// reported. Loaded libraries stay loaded for the life of the process.
//
// Thread safety: loading is single-threaded (at start-up); all const methods may be called from any
// thread afterwards.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "lrpflow/plugin_api.h"
#include "lrpflow/status.h"

namespace lrpflow {

struct LoadedPlugin {
  std::string name;
  std::string version;
  std::filesystem::path file;  // empty for descriptors registered in-process
};

class PluginRegistry {
 public:
  PluginRegistry();
  ~PluginRegistry();
  PluginRegistry(const PluginRegistry&) = delete;
  PluginRegistry& operator=(const PluginRegistry&) = delete;

  // The directories searched by default: `extra` first, then LRPFLOW_PLUGIN_PATH, build and install dirs.
  static std::vector<std::filesystem::path> search_path(const std::vector<std::filesystem::path>& extra);

  // Loads every shared library (*.so) in each directory, in name order. Problems are recorded.
  void load_directories(const std::vector<std::filesystem::path>& dirs);
  // Loads one library; an error names the file (and both API versions on a version mismatch).
  Status load_library(const std::filesystem::path& file);
  // Registers a descriptor compiled into the current process (tests, the host's built-ins).
  void add_descriptor(const PluginDescriptor& descriptor, const std::filesystem::path& origin = {});

  const StageTypeInfo* find_stage(const std::string& type) const;
  const ResourceTypeInfo* find_resource(const std::string& type) const;
  // An extension of `kind` (e.g. "lrp.rule") by name, as its plugin gave it; null when unknown.
  // The library that defines the kind casts it back (lrp::find_rule_type).
  const void* find_extension(const std::string& kind, const std::string& name) const;

  std::vector<const StageTypeInfo*> stages() const;        // sorted by type
  std::vector<const ResourceTypeInfo*> resources() const;  // sorted by type
  std::vector<const ExtensionTypeInfo*> extensions(const std::string& kind) const;  // sorted by name
  std::vector<std::string> stage_type_names() const;
  const std::vector<LoadedPlugin>& plugins() const;
  // Which plugin (name and file) provides a stage type; empty when unknown.
  const LoadedPlugin* provider_of_stage(const std::string& type) const;

  // Libraries skipped while loading, each message naming the file and the reason.
  const std::vector<std::string>& problems() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Levenshtein-closest candidate within a small distance, for "did you mean" hints; empty if none.
std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates);

}  // namespace lrpflow
