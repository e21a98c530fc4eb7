#include "lrpflow/registry.h"

#include <dlfcn.h>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>
#include <sstream>

#include <boost/dll/shared_library.hpp>

#include "lrpflow/locations.h"
#include "lrpflow/log.h"

namespace lrpflow {
namespace fs = std::filesystem;

namespace {

// A plugin's static constructors run inside dlopen(). One that calls exit(0) there would end the
// process with status 0 having done nothing, which a script would take for success. While a library
// is being opened, an atexit handler turns any exit() into a failure that names the library.
std::atomic<const char*> library_being_loaded{nullptr};

void refuse_exit_while_loading() {
  if (const char* file = library_being_loaded.load()) {
    std::fprintf(stderr, "lrpflow: error: plugin %s called exit() while it was being loaded\n", file);
    std::fflush(stderr);
    ::_exit(70);  // EX_SOFTWARE; _exit because the exit sequence itself is what the plugin started
  }
}

class LoadingGuard {
 public:
  explicit LoadingGuard(const std::string& file) : file_(file) {
    static const bool registered = std::atexit(refuse_exit_while_loading) == 0;
    (void)registered;
    library_being_loaded.store(file_.c_str());
  }
  ~LoadingGuard() { library_being_loaded.store(nullptr); }
  LoadingGuard(const LoadingGuard&) = delete;
  LoadingGuard& operator=(const LoadingGuard&) = delete;

 private:
  std::string file_;
};

}  // namespace

struct PluginRegistry::Impl {
  // Libraries stay loaded for the life of the registry (which lives for the process): descriptors,
  // stage factories and std::function targets all point into them.
  std::vector<boost::dll::shared_library> libraries;
  std::set<std::string> loaded_files;  // canonical paths, so one file found twice loads once
  std::vector<LoadedPlugin> plugins;
  std::map<std::string, std::pair<const StageTypeInfo*, std::size_t>> stages;  // type -> (info, plugin index)
  std::map<std::string, const ResourceTypeInfo*> resources;
  std::map<std::pair<std::string, std::string>, const ExtensionTypeInfo*> extensions;  // (kind, name)
  std::vector<std::unique_ptr<PluginDescriptor>> owned_descriptors;   // copies made by add_descriptor
  std::vector<std::string> problems;
};

PluginRegistry::PluginRegistry() : impl_(std::make_unique<Impl>()) {}

PluginRegistry::~PluginRegistry() {
  // Forget everything that points into the libraries before they are unloaded.
  impl_->stages.clear();
  impl_->resources.clear();
  impl_->extensions.clear();
  impl_->owned_descriptors.clear();
  // The libraries themselves are deliberately never unloaded: objects created by plugin code
  // (tensors with plugin deleters, static destructors registered with atexit) may outlive us.
  // They move to a list that is never destroyed; a static pointer keeps it reachable, so that
  // LeakSanitizer does not take the handles for a leak.
  static auto* const kept_loaded = new std::vector<boost::dll::shared_library>();
  for (auto& lib : impl_->libraries) kept_loaded->push_back(std::move(lib));
}

std::vector<fs::path> PluginRegistry::search_path(const std::vector<fs::path>& extra) {
  std::vector<fs::path> dirs;
  std::set<std::string> seen;
  auto add = [&](const fs::path& dir, bool must_exist) {
    if (dir.empty()) return;
    std::error_code ec;
    if (must_exist && !fs::is_directory(dir, ec)) return;
    fs::path normal = fs::weakly_canonical(dir, ec);
    if (ec) normal = dir;
    if (seen.insert(normal.string()).second) dirs.push_back(dir);
  };
  // Directories the user named are kept even when missing, so that load_directories reports them.
  for (const fs::path& dir : extra) add(dir, false);
  if (const char* env = std::getenv("LRPFLOW_PLUGIN_PATH")) {
    std::stringstream parts(env);
    std::string part;
    while (std::getline(parts, part, ':')) add(part, true);
  }
  // The shipped plugins: the build tree's for a build-tree binary, <prefix>/lib/lrpflow/plugins
  // for an installed one (never both, see locations.h).
  add(locations().plugin_dir, true);
  return dirs;
}

void PluginRegistry::load_directories(const std::vector<fs::path>& dirs) {
  for (const fs::path& dir : dirs) {
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) {
      impl_->problems.push_back(dir.string() + ": plugin directory does not exist");
      continue;
    }
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
      // Regular files only (symlinks to them included): opening a FIFO or a device would block or
      // read forever.
      std::error_code type_error;
      if (entry.path().extension() == ".so" && entry.is_regular_file(type_error)) files.push_back(entry.path());
    }
    if (ec) {
      impl_->problems.push_back(dir.string() + ": cannot list plugin directory: " + ec.message());
      continue;
    }
    std::sort(files.begin(), files.end());
    for (const fs::path& file : files) {
      Status status = load_library(file);
      if (!status) impl_->problems.push_back(status.message());
    }
  }
}

Status PluginRegistry::load_library(const fs::path& file) {
  std::error_code ec;
  fs::path canonical = fs::canonical(file, ec);
  if (ec) return Status::error(file.string() + ": cannot load plugin: " + ec.message());
  if (impl_->loaded_files.count(canonical.string())) return Status::ok();
  if (!fs::is_regular_file(canonical, ec))
    return Status::error(file.string() + ": cannot load plugin: not a regular file");

  LoadingGuard guard(file.string());
  boost::dll::shared_library library;
  boost::system::error_code load_error;
  // rtld_now: a library with an unresolved symbol is refused here, not when a stage first runs.
  library.load(boost::dll::fs::path(canonical.string()), load_error, boost::dll::load_mode::rtld_now);
  if (load_error || !library.is_loaded()) {
    // Boost reports a generic error code; dlerror() has the real reason (missing symbol, not ELF).
    const char* reason = ::dlerror();
    return Status::error(file.string() + ": cannot load plugin library: " +
                         (reason ? std::string(reason) : load_error.message()));
  }
  if (!library.has(LRPFLOW_PLUGIN_ENTRY_NAME)) {
    return Status::error(file.string() + " is not an lrpflow plugin (no " LRPFLOW_PLUGIN_ENTRY_NAME " entry)");
  }
  using EntryFn = const LrpflowPluginInfo*();
  const LrpflowPluginInfo* info = nullptr;
  try {
    // A Boost.DLL alias is a variable holding the function's address; a library may define the
    // symbol with a null value, which get_alias() would call.
    EntryFn* entry = library.get<EntryFn*>(LRPFLOW_PLUGIN_ENTRY_NAME);
    if (!entry) return Status::error(file.string() + ": the plugin entry " LRPFLOW_PLUGIN_ENTRY_NAME " is null");
    info = entry();
  } catch (const std::exception& e) {
    return Status::error(file.string() + ": cannot read the plugin entry: " + e.what());
  }
  if (!info) return Status::error(file.string() + ": the plugin entry returned nothing");
  // The version comes first: nothing else in the struct can be trusted if it differs.
  if (info->api_version != LRPFLOW_PLUGIN_API_VERSION) {
    return Status::error(file.string() + ": plugin built for lrpflow plugin API version " +
                         std::to_string(info->api_version) + ", this lrpflow has version " +
                         std::to_string(LRPFLOW_PLUGIN_API_VERSION) + "; rebuild the plugin");
  }
  if (!info->describe) return Status::error(file.string() + ": the plugin entry has no describe function");
  const std::string name = info->name ? info->name : "";
  for (const LoadedPlugin& plugin : impl_->plugins) {
    if (plugin.name == name) {
      // The same plugin found again later on the search path (build and install trees): the first wins.
      log_debug("plugin '" + name + "' from " + file.string() + " skipped: already loaded from " +
                plugin.file.string());
      return Status::ok();
    }
  }
  const PluginDescriptor* descriptor = nullptr;
  try {
    descriptor = &info->describe();
  } catch (const std::exception& e) {
    return Status::error(file.string() + ": describe() failed: " + e.what());
  } catch (...) {
    return Status::error(file.string() + ": describe() failed with an unknown exception");
  }
  impl_->loaded_files.insert(canonical.string());
  impl_->libraries.push_back(std::move(library));
  // add_descriptor copies; the plugin's own static descriptor would do as well, but copying keeps
  // in-process and loaded descriptors on one code path.
  add_descriptor(*descriptor, file);
  return Status::ok();
}

void PluginRegistry::add_descriptor(const PluginDescriptor& descriptor, const fs::path& origin) {
  impl_->owned_descriptors.push_back(std::make_unique<PluginDescriptor>(descriptor));
  const PluginDescriptor& d = *impl_->owned_descriptors.back();
  const std::size_t plugin_index = impl_->plugins.size();
  impl_->plugins.push_back({d.name, d.version, origin});
  const std::string where = origin.empty() ? "plugin '" + d.name + "'" : origin.string();
  auto conflict = [&](const char* kind, const std::string& type, const std::string& first) {
    impl_->problems.push_back(where + ": " + kind + " '" + type + "' is already provided by " + first +
                              "; this one is ignored");
  };
  auto origin_of = [&](std::size_t index) {
    const LoadedPlugin& p = impl_->plugins[index];
    return p.file.empty() ? "plugin '" + p.name + "'" : p.file.string();
  };
  for (const StageTypeInfo& stage : d.stages) {
    auto it = impl_->stages.find(stage.type);
    if (it != impl_->stages.end()) {
      conflict("stage type", stage.type, origin_of(it->second.second));
      continue;
    }
    impl_->stages.emplace(stage.type, std::make_pair(&stage, plugin_index));
  }
  for (const ResourceTypeInfo& resource : d.resources) {
    if (impl_->resources.count(resource.type)) {
      conflict("resource type", resource.type, "an earlier plugin");
      continue;
    }
    impl_->resources.emplace(resource.type, &resource);
  }
  for (const ExtensionTypeInfo& extension : d.extensions) {
    if (!extension.info) continue;
    if (impl_->extensions.count({extension.kind, extension.name})) {
      conflict((extension.kind + " type").c_str(), extension.name, "an earlier plugin");
      continue;
    }
    impl_->extensions.emplace(std::make_pair(extension.kind, extension.name), &extension);
  }
}

const StageTypeInfo* PluginRegistry::find_stage(const std::string& type) const {
  auto it = impl_->stages.find(type);
  return it == impl_->stages.end() ? nullptr : it->second.first;
}

const ResourceTypeInfo* PluginRegistry::find_resource(const std::string& type) const {
  auto it = impl_->resources.find(type);
  return it == impl_->resources.end() ? nullptr : it->second;
}

const void* PluginRegistry::find_extension(const std::string& kind, const std::string& name) const {
  auto it = impl_->extensions.find({kind, name});
  return it == impl_->extensions.end() ? nullptr : it->second->info.get();
}

std::vector<const StageTypeInfo*> PluginRegistry::stages() const {
  std::vector<const StageTypeInfo*> out;
  for (const auto& [type, entry] : impl_->stages) out.push_back(entry.first);
  return out;
}

std::vector<const ResourceTypeInfo*> PluginRegistry::resources() const {
  std::vector<const ResourceTypeInfo*> out;
  for (const auto& [type, info] : impl_->resources) out.push_back(info);
  return out;
}

std::vector<const ExtensionTypeInfo*> PluginRegistry::extensions(const std::string& kind) const {
  std::vector<const ExtensionTypeInfo*> out;
  for (auto it = impl_->extensions.lower_bound({kind, std::string()}); it != impl_->extensions.end() && it->first.first == kind; ++it)
    out.push_back(it->second);
  return out;
}

std::vector<std::string> PluginRegistry::stage_type_names() const {
  std::vector<std::string> out;
  for (const auto& [type, entry] : impl_->stages) out.push_back(type);
  return out;
}

const std::vector<LoadedPlugin>& PluginRegistry::plugins() const { return impl_->plugins; }

const LoadedPlugin* PluginRegistry::provider_of_stage(const std::string& type) const {
  auto it = impl_->stages.find(type);
  return it == impl_->stages.end() ? nullptr : &impl_->plugins[it->second.second];
}

const std::vector<std::string>& PluginRegistry::problems() const { return impl_->problems; }

std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates) {
  auto lower = [](std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  };
  const std::string w = lower(word);
  // Allow about one typo per three letters, at least one, at most three.
  const std::size_t allowed = std::min<std::size_t>(3, std::max<std::size_t>(1, w.size() / 3));
  std::string best;
  std::size_t best_distance = allowed + 1;
  for (const std::string& candidate : candidates) {
    const std::string c = lower(candidate);
    // Optimal string alignment distance: Levenshtein plus swaps of two neighbours ("cuont").
    std::vector<std::vector<std::size_t>> d(w.size() + 1, std::vector<std::size_t>(c.size() + 1));
    for (std::size_t i = 0; i <= w.size(); ++i) d[i][0] = i;
    for (std::size_t j = 0; j <= c.size(); ++j) d[0][j] = j;
    for (std::size_t i = 1; i <= w.size(); ++i) {
      for (std::size_t j = 1; j <= c.size(); ++j) {
        const std::size_t cost = w[i - 1] == c[j - 1] ? 0 : 1;
        d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
        if (i > 1 && j > 1 && w[i - 1] == c[j - 2] && w[i - 2] == c[j - 1]) {
          d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
        }
      }
    }
    const std::size_t distance = d[w.size()][c.size()];
    if (distance < best_distance) {
      best_distance = distance;
      best = candidate;
    }
  }
  return best;
}

}  // namespace lrpflow
