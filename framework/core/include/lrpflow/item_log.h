// The item log: what a run records of each item while it runs, appended to a file beside the
// manifest instead of being held in memory.
//
// The runtime appends one JSON line per finished item (manifest_item_to_json_line()) and forgets
// the item; memory then stays flat however many items a run has, and a manifest checkpoint costs
// the same after 10 items as after 100,000: it syncs the log and writes the run's header with the
// log's name and its synced length ({"items_log": {"path": ..., "bytes": N}}, manifest.h). Only the
// first N bytes count: a line appended after the last checkpoint (a kill -9 in between) is not
// recorded, as an item in flight is not. At the end of the run the final manifest lists every item
// inline again, read back from the log, and the log is removed.
//
// Threading: append() and sync() from one thread at a time (the runtime's sink, under its manifest
// mutex); for_each() when no append is under way.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "lrpflow/manifest.h"
#include "lrpflow/status.h"

namespace lrpflow {

class ItemLog {
 public:
  // Creates (or truncates) the log at `path`.
  static Result<std::unique_ptr<ItemLog>> create(const std::filesystem::path& path);
  ~ItemLog();
  ItemLog(const ItemLog&) = delete;
  ItemLog& operator=(const ItemLog&) = delete;

  Status append(const ManifestItem& item);
  // Makes every line appended so far durable (fflush, fdatasync).
  Status sync();
  // Bytes appended so far, and how many of them sync() made durable.
  std::int64_t bytes() const { return bytes_; }
  std::int64_t synced_bytes() const { return synced_bytes_; }
  std::int64_t count() const { return static_cast<std::int64_t>(entries_.size()); }
  const std::filesystem::path& path() const { return path_; }

  // Visits the logged items in index order (ok ones only when `ok_only`), reading each back.
  Status for_each(const std::function<Status(const ManifestItem&)>& visit, bool ok_only = false) const;
  // Closes and deletes the file (after a final manifest that lists its items inline).
  void remove();

 private:
  ItemLog(std::filesystem::path path, int fd);
  struct Entry {
    std::int64_t index;
    std::int64_t offset;
    std::int64_t length;
    bool ok;
  };
  std::filesystem::path path_;
  int fd_ = -1;
  std::int64_t bytes_ = 0;
  std::int64_t synced_bytes_ = 0;
  std::vector<Entry> entries_;  // about 32 bytes per item, all that stays in memory
};

// The items of the first `bytes` bytes of the log at `path` (checkpoint form of a manifest); a last
// line cut short is not an item. Errors name the file and line.
Result<std::vector<ManifestItem>> read_item_log(const std::filesystem::path& path, std::int64_t bytes,
                                                const std::string& default_pipeline_hash);

}  // namespace lrpflow
