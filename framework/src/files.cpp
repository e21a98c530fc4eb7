#include "lrpflow/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>

namespace lrpflow {
namespace fs = std::filesystem;

namespace {

// LRPFLOW_SYNC=each: the old behaviour, an fsync per file and no batch (for the "before" figures).
bool sync_each_file() {
  static const bool each = [] {
    const char* value = std::getenv("LRPFLOW_SYNC");
    return value != nullptr && std::string_view(value) == "each";
  }();
  return each;
}

// Files complete under their names but not yet flushed to storage, and temporaries being written.
struct DurabilitySet {
  std::mutex mutex;
  std::set<fs::path> files;
  std::set<fs::path> temporaries;
};
DurabilitySet& durability_set() {
  static DurabilitySet* set = new DurabilitySet;  // never destroyed: writes may run during exit
  return *set;
}

void remember_unflushed(const fs::path& path) {
  if (sync_each_file()) return;
  DurabilitySet& set = durability_set();
  std::lock_guard<std::mutex> lock(set.mutex);
  set.files.insert(path.lexically_normal());
}

fs::path temporary_for(const fs::path& path) {
  static std::atomic<unsigned long> counter{0};
  // Keep the extension last: ".../x.png" -> ".../x.tmp-123-4.png".
  fs::path tmp = path;
  tmp.replace_filename(path.stem().string() + ".tmp-" + std::to_string(::getpid()) + "-" +
                       std::to_string(counter.fetch_add(1)) + path.extension().string());
  return tmp;
}

Status ensure_parent(const fs::path& path) {
  std::error_code ec;
  const fs::path parent = path.parent_path();
  if (parent.empty()) return Status::ok();
  fs::create_directories(parent, ec);
  if (ec) return Status::error("cannot create directory " + parent.string() + ": " + ec.message());
  if (!fs::is_directory(parent)) return Status::error(parent.string() + " is not a directory");
  return Status::ok();
}

Status rename_into_place(const fs::path& tmp, const fs::path& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    fs::remove(tmp, ec);
    return Status::error("cannot write " + path.string() + ": it is a directory");
  }
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    return Status::error("cannot move " + tmp.string() + " to " + path.string() + ": " + ec.message());
  }
  return Status::ok();
}

}  // namespace

Status write_file_atomic(const fs::path& path, std::string_view bytes) {
  return write_file_atomic_with(path, [&](const fs::path& tmp) -> Status {
    FILE* f = std::fopen(tmp.c_str(), "wb");
    if (!f) return Status::error("cannot open " + tmp.string() + " for writing: " + std::strerror(errno));
    const bool written = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
    const bool flushed = std::fflush(f) == 0 && (!sync_each_file() || ::fsync(::fileno(f)) == 0);
    const bool closed = std::fclose(f) == 0;
    if (!written || !flushed || !closed) return Status::error("cannot write " + path.string() + ": " + std::strerror(errno));
    return Status::ok();
  });
}

Status write_file_atomic_with(const fs::path& path, const std::function<Status(const fs::path& tmp)>& writer) {
  LRPFLOW_RETURN_IF_ERROR(ensure_parent(path));
  const fs::path tmp = temporary_for(path);
  {
    std::lock_guard<std::mutex> lock(durability_set().mutex);
    durability_set().temporaries.insert(tmp);
  }
  struct Forget {
    const fs::path& tmp;
    ~Forget() {
      std::lock_guard<std::mutex> lock(durability_set().mutex);
      durability_set().temporaries.erase(tmp);
    }
  } forget{tmp};
  Status status;
  try {
    status = writer(tmp);
  } catch (const std::exception& e) {
    status = Status::error(std::string("cannot write ") + path.string() + ": " + e.what());
  }
  std::error_code ec;
  if (!status.is_ok()) {
    fs::remove(tmp, ec);
    return status;
  }
  if (!fs::exists(tmp, ec)) return Status::error("cannot write " + path.string() + ": nothing was written");
  LRPFLOW_RETURN_IF_ERROR(rename_into_place(tmp, path));
  remember_unflushed(path);
  return Status::ok();
}

Status flush_written_files() {
  DurabilitySet& set = durability_set();
  std::set<fs::path> files;
  {
    std::lock_guard<std::mutex> lock(set.mutex);
    files.swap(set.files);
  }
  std::set<fs::path> directories;
  for (const fs::path& file : files) directories.insert(file.has_parent_path() ? file.parent_path() : fs::path("."));
  // syncfs() writes out the whole filesystem: files, and the renames that gave them their names.
  std::set<dev_t> flushed;
  Status result = Status::ok();
  std::set<fs::path> failed;
  for (const fs::path& dir : directories) {
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT) continue;  // removed since: nothing left to keep
      if (result.is_ok()) result = Status::error("cannot flush " + dir.string() + " to disk: " + std::strerror(errno));
      failed.insert(dir);
      continue;
    }
    struct stat st {};
    const bool known = ::fstat(fd, &st) == 0;
    if (!known || !flushed.count(st.st_dev)) {
      if (::syncfs(fd) != 0) {
        if (result.is_ok()) result = Status::error("cannot flush " + dir.string() + " to disk: " + std::strerror(errno));
        failed.insert(dir);
      } else if (known) {
        flushed.insert(st.st_dev);
      }
    }
    ::close(fd);
  }
  if (!failed.empty()) {
    std::lock_guard<std::mutex> lock(set.mutex);
    for (const fs::path& file : files) {
      if (failed.count(file.has_parent_path() ? file.parent_path() : fs::path("."))) set.files.insert(file);
    }
  }
  return result;
}

void remove_unfinished_temporaries() {
  DurabilitySet& set = durability_set();
  std::lock_guard<std::mutex> lock(set.mutex);
  for (const fs::path& tmp : set.temporaries) ::unlink(tmp.c_str());
}

bool awaiting_flush(const fs::path& path) {
  DurabilitySet& set = durability_set();
  std::lock_guard<std::mutex> lock(set.mutex);
  return set.files.count(path.lexically_normal()) > 0;
}

Result<std::string> read_file(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return Status::error(path.string() + ": no such file");
  if (fs::is_directory(path, ec)) return Status::error(path.string() + ": is a directory, not a file");
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::error(path.string() + ": cannot open for reading");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return Status::error(path.string() + ": read error");
  return ss.str();
}

}  // namespace lrpflow
