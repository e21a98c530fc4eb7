#include "lrpflow/item_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "lrpflow/files.h"

namespace lrpflow {
namespace fs = std::filesystem;

namespace {

std::string errno_text() { return std::strerror(errno); }

}  // namespace

ItemLog::ItemLog(fs::path path, int fd) : path_(std::move(path)), fd_(fd) {}

ItemLog::~ItemLog() {
  if (fd_ >= 0) ::close(fd_);
}

Result<std::unique_ptr<ItemLog>> ItemLog::create(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status::error("cannot create the item log " + path.string() + ": " + errno_text());
  return std::unique_ptr<ItemLog>(new ItemLog(path, fd));
}

Status ItemLog::append(const ManifestItem& item) {
  if (fd_ < 0) return Status::error("the item log " + path_.string() + " is closed");
  const std::string line = manifest_item_to_json_line(item);
  // pwrite at the logical end: a failed write (ENOSPC) is retried in place by the next append, so
  // the file never holds a torn line followed by good ones.
  std::size_t done = 0;
  while (done < line.size()) {
    const ssize_t n = ::pwrite(fd_, line.data() + done, line.size() - done, static_cast<off_t>(bytes_ + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Status::error("cannot append to the item log " + path_.string() + ": " + errno_text());
    done += static_cast<std::size_t>(n);
  }
  entries_.push_back({item.index, bytes_, static_cast<std::int64_t>(line.size()), item.ok});
  bytes_ += static_cast<std::int64_t>(line.size());
  return Status::ok();
}

Status ItemLog::sync() {
  if (fd_ < 0) return Status::ok();
  if (::fdatasync(fd_) != 0) return Status::error("cannot flush the item log " + path_.string() + ": " + errno_text());
  synced_bytes_ = bytes_;
  return Status::ok();
}

Status ItemLog::for_each(const std::function<Status(const ManifestItem&)>& visit, bool ok_only) const {
  std::vector<const Entry*> order;
  order.reserve(entries_.size());
  for (const Entry& entry : entries_)
    if (entry.ok || !ok_only) order.push_back(&entry);
  std::stable_sort(order.begin(), order.end(), [](const Entry* a, const Entry* b) { return a->index < b->index; });
  std::string line;
  for (const Entry* entry : order) {
    line.resize(static_cast<std::size_t>(entry->length));
    std::size_t done = 0;
    while (done < line.size()) {
      const ssize_t n = ::pread(fd_, line.data() + done, line.size() - done, static_cast<off_t>(entry->offset + done));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return Status::error("cannot read the item log " + path_.string() + ": " + errno_text());
      done += static_cast<std::size_t>(n);
    }
    auto item = manifest_item_from_json(line, path_.string() + " at byte " + std::to_string(entry->offset), "");
    if (!item) return item.status();
    LRPFLOW_RETURN_IF_ERROR(visit(item.value()));
  }
  return Status::ok();
}

void ItemLog::remove() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  std::error_code ec;
  fs::remove(path_, ec);
}

Result<std::vector<ManifestItem>> read_item_log(const fs::path& path, std::int64_t bytes,
                                                const std::string& default_pipeline_hash) {
  auto text = read_file(path);
  if (!text) return text.status();
  if (static_cast<std::int64_t>(text.value().size()) < bytes)
    return Status::error("the item log " + path.string() + " has " + std::to_string(text.value().size()) +
                         " bytes; the manifest recorded " + std::to_string(bytes));
  std::vector<ManifestItem> items;
  std::string_view recorded(text.value().data(), static_cast<std::size_t>(bytes));
  std::size_t line_number = 0;
  while (!recorded.empty()) {
    ++line_number;
    const std::size_t end = recorded.find('\n');
    // Every recorded line ends in a newline: `bytes` was taken between appends.
    if (end == std::string_view::npos)
      return Status::error(path.string() + ":" + std::to_string(line_number) + ": the recorded part ends inside a line");
    auto item = manifest_item_from_json(recorded.substr(0, end), path.string() + ":" + std::to_string(line_number),
                                        default_pipeline_hash);
    if (!item) return item.status();
    items.push_back(std::move(item).value());
    recorded.remove_prefix(end + 1);
  }
  std::stable_sort(items.begin(), items.end(), [](const ManifestItem& a, const ManifestItem& b) { return a.index < b.index; });
  return items;
}

}  // namespace lrpflow
