// Shared by the fuzz harnesses (tests/fuzz/*_fuzz.cpp): a scratch folder for harnesses whose code
// under test reads files, and the plugin registry loaded from the built plugins.
//
// Every harness defines LLVMFuzzerTestOneInput. It is built twice: with libFuzzer
// (LRPFLOW_BUILD_FUZZERS, clang) to search for crashes, and with replay_main.cpp into a plain
// executable that ctest runs over the harness's corpus and regressions folders.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>

#include "lrpflow/registry.h"

namespace lrpflow::fuzz {

inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// One folder per process, removed at exit: harness inputs that must be files are written here.
inline const std::filesystem::path& scratch_dir() {
  static const struct Dir {
    std::filesystem::path path;
    Dir() {
      path = std::filesystem::temp_directory_path() / ("lrpflow-fuzz-" + std::to_string(::getpid()));
      std::filesystem::create_directories(path);
    }
    ~Dir() {
      std::error_code ec;
      std::filesystem::remove_all(path, ec);
    }
  } dir;
  return dir.path;
}

// Writes `bytes` to scratch_dir()/name (replacing it) and returns the path.
inline std::filesystem::path write_scratch(const std::string& name, std::string_view bytes) {
  const std::filesystem::path path = scratch_dir() / name;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out.flush()) {
    std::fprintf(stderr, "fuzz: cannot write %s\n", path.string().c_str());
    std::abort();
  }
  return path;
}

// The registry with every plugin of the build (LRPFLOW_FUZZ_PLUGIN_DIR), loaded once.
inline const PluginRegistry& built_plugins() {
  static const std::unique_ptr<PluginRegistry> registry = [] {
    auto r = std::make_unique<PluginRegistry>();
    r->load_directories({LRPFLOW_FUZZ_PLUGIN_DIR});
    if (r->plugins().empty()) {
      std::fprintf(stderr, "fuzz: no plugins in %s\n", LRPFLOW_FUZZ_PLUGIN_DIR);
      std::abort();
    }
    return r;
  }();
  return *registry;
}

// A property the harness checks failed: a crash for libFuzzer and for the replay.
[[noreturn]] inline void fail(const std::string& what) {
  std::fprintf(stderr, "fuzz: %s\n", what.c_str());
  std::abort();
}

}  // namespace lrpflow::fuzz
