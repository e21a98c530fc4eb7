#include "lrpflow/locations.h"

#include <dlfcn.h>

#include <system_error>

namespace lrpflow {
namespace fs = std::filesystem;

namespace {

// The folder of the file this function was loaded from (liblrpflow.so), or of the executable
// when the library is linked in statically.
fs::path own_library_dir() {
  Dl_info info{};
  if (::dladdr(reinterpret_cast<void*>(&own_library_dir), &info) != 0 && info.dli_fname && *info.dli_fname) {
    std::error_code ec;
    fs::path file = fs::canonical(info.dli_fname, ec);
    if (!ec) return file.parent_path();
  }
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path() : exe.parent_path();
}

bool same_folder(const fs::path& a, const fs::path& b) {
  std::error_code ec;
  return !a.empty() && fs::exists(b, ec) && fs::equivalent(a, b, ec);
}

Locations find_locations() {
  Locations where;
  const fs::path library_dir = own_library_dir();
  if (same_folder(library_dir, LRPFLOW_BUILD_LIB_DIR)) {
    where.prefix = LRPFLOW_BUILD_DIR;
    where.plugin_dir = LRPFLOW_BUILD_PLUGIN_DIR;
    where.data_dir = LRPFLOW_SOURCE_DIR;
    return where;
  }
  // <prefix>/<libdir>/liblrpflow.so: go up one folder per component of <libdir> ("lib",
  // "lib/x86_64-linux-gnu").
  where.installed = true;
  fs::path prefix = library_dir;
  for (const auto& part : fs::path(LRPFLOW_INSTALL_LIBDIR)) {
    if (!part.empty() && part != ".") prefix = prefix.parent_path();
  }
  where.prefix = prefix;
  where.plugin_dir = prefix / LRPFLOW_INSTALL_PLUGIN_SUBDIR;
  where.data_dir = prefix / LRPFLOW_INSTALL_DATA_SUBDIR;
  return where;
}

}  // namespace

const Locations& locations() {
  static const Locations where = find_locations();
  return where;
}

}  // namespace lrpflow
