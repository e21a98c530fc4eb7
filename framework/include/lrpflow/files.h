// Writing files so that no half-written file ever exists.
//
// Every output goes to `<path>.tmp-<pid>-<n>` first and is renamed over `<path>` only when it is
// complete and flushed; a crash or Ctrl-C leaves at most a stray temporary, never a truncated file
// under the real name. Safe to call from several threads for different paths.
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

#include "lrpflow/status.h"

namespace lrpflow {

// Writes `bytes` to `path` atomically, creating parent directories. Errors name the path.
Status write_file_atomic(const std::filesystem::path& path, std::string_view bytes);

// Lets `writer` produce the file at a temporary path (for libraries that write files themselves,
// like cv::imwrite), then renames it into place. `writer` gets the temporary path and must return
// an error or ok; on error the temporary is removed. The temporary keeps the final extension so
// that extension-driven writers pick the right format.
Status write_file_atomic_with(const std::filesystem::path& path,
                              const std::function<Status(const std::filesystem::path& tmp)>& writer);

// Reads a whole file; the error names the path.
Result<std::string> read_file(const std::filesystem::path& path);

// Turns an item id into a safe file stem (no path separators or control characters).
std::string safe_file_stem(std::string_view id);

}  // namespace lrpflow
