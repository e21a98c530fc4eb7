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
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lrpflow/status.h"

namespace lrpflow {

// Writes `bytes` to `path` atomically, creating parent directories. Every write, the flush and the
// close are checked, and the temporary is renamed into place only when it holds all of `bytes`: a
// full disk is an error naming the path and the cause ("No space left on device"), never a short
// file under the real name.
Status write_file_atomic(const std::filesystem::path& path, std::string_view bytes);

// Lets `writer` produce the file at a temporary path, then renames it into place. `writer` gets the
// temporary path and must return an error or ok; on error the temporary is removed. The temporary
// keeps the final extension so that extension-driven writers pick the right format. Only for
// writers that report every failed write: cv::imwrite does not (it "succeeds" on a full disk), so
// encode to memory (cv::imencode) and use write_file_atomic instead, as write_png_atomic does.
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

// The temporaries of write_file_atomic*() are named `<stem>.tmp-<pid>-<n><extension>`. For such a
// name, the pid of the process that wrote it; nullopt for any other name.
std::optional<long> temporary_writer_pid(const std::filesystem::path& path);

// Removes the temporaries under `dir` (recursively, not following symlinks) that a process left
// behind when it was killed before it could rename them, for which `is_stale(path, pid)` says yes.
// Never removes a temporary this process is writing. Returns what it removed; a file it could not
// remove is logged by the caller from `problems`.
struct RemovedTemporaries {
  std::vector<std::filesystem::path> removed;
  std::vector<std::string> problems;  // each names the file or folder
};
RemovedTemporaries remove_stale_temporaries(const std::filesystem::path& dir,
                                            const std::function<bool(const std::filesystem::path&, long pid)>& is_stale);

// Resolves a path read from a file of the run (a manifest's outputs) against the run's folder
// `dir`: it must be relative, must not climb out with "..", and must not leave `dir` through a
// symlink (checked on the canonical paths). The error says which of these `recorded` breaks; the
// caller adds the file and entry it came from.
Result<std::filesystem::path> resolve_inside(const std::filesystem::path& dir, const std::string& recorded);

// Reads a whole file; the error names the path.
Result<std::string> read_file(const std::filesystem::path& path);

}  // namespace lrpflow
