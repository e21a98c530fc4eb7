// Writing files so that no half-written file ever exists.
//
// Every output goes to `<path>.tmp-<pid>-<n>` first and is renamed over `<path>` only when it is
// complete; a crash or Ctrl-C leaves at most a stray temporary, never a truncated file under the
// real name. Safe to call from several threads for different paths.
//
// Durability is paid once per batch, not per file: a write returns once the file is complete under
// its name, and its directory joins a durability set. flush_written_files() makes everything
// written so far durable with one syncfs(2) per filesystem in that set; whoever records files as
// done (the run, before each manifest it writes) calls it first. LRPFLOW_SYNC=each restores the
// old fsync of every file before its rename (for benchmarks: docs/performance.md).
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

// Makes every file written so far by write_file_atomic*() durable (one syncfs(2) per filesystem
// written into since the last call). The error names a directory that could not be flushed; the
// files written into it stay in the set for the next call.
Status flush_written_files();

// Removes the temporaries of writes still under way, for a process about to end without waiting
// for them (a second Ctrl-C); those writes then fail.
void remove_unfinished_temporaries();

// Whether `path` was written by write_file_atomic*() and not flushed since (for tests of the
// guarantee that a file a manifest lists is durable).
bool awaiting_flush(const std::filesystem::path& path);

// Reads a whole file; the error names the path.
Result<std::string> read_file(const std::filesystem::path& path);

}  // namespace lrpflow
