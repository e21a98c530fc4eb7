#include "lrpflow/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <regex>
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
  if (ec) return Status::error("cannot write " + path.string() + ": cannot create directory " + parent.string() + ": " + ec.message());
  if (!fs::is_directory(parent)) return Status::error("cannot write " + path.string() + ": " + parent.string() + " is not a directory");
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
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) return Status::error("cannot open " + tmp.string() + " for writing: " + std::strerror(errno));
    // The first failure's errno: later calls (close) may overwrite it.
    int error = 0;
    std::size_t done = 0;
    while (done < bytes.size()) {
      const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        error = n < 0 ? errno : EIO;
        break;
      }
      done += static_cast<std::size_t>(n);
    }
    if (error == 0 && sync_each_file() && ::fsync(fd) != 0) error = errno;
    // What the file holds, as the filesystem reports it: all of `bytes` or the write failed.
    struct stat st {};
    if (error == 0 && ::fstat(fd, &st) == 0 && static_cast<std::uint64_t>(st.st_size) != bytes.size()) error = EIO;
    if (::close(fd) != 0 && error == 0) error = errno;
    if (error != 0) {
      return Status::error("cannot write " + path.string() + ": " + std::strerror(error) + " (" + std::to_string(done) +
                           " of " + std::to_string(bytes.size()) + " bytes written)");
    }
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

std::optional<long> temporary_writer_pid(const fs::path& path) {
  // temporary_for()'s names: <stem>.tmp-<pid>-<n><extension>, the extension without dots inside.
  static const std::regex name(R"(.+\.tmp-([0-9]{1,10})-([0-9]{1,20})(\.[^.]*)?)");
  std::smatch m;
  const std::string file = path.filename().string();
  if (file.find(".tmp-") == std::string::npos || !std::regex_match(file, m, name)) return std::nullopt;
  return std::stol(m[1].str());
}

RemovedTemporaries remove_stale_temporaries(const fs::path& dir, const std::function<bool(const fs::path&, long pid)>& is_stale) {
  RemovedTemporaries result;
  auto being_written_here = [](const fs::path& path) {
    std::lock_guard<std::mutex> lock(durability_set().mutex);
    return durability_set().temporaries.count(path) > 0;
  };
  std::error_code ec;
  fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec);
  if (ec) {
    if (ec != std::errc::no_such_file_or_directory) result.problems.push_back("cannot list " + dir.string() + ": " + ec.message());
    return result;
  }
  for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
    const fs::path path = it->path();
    std::error_code type_ec;
    if (!it->is_regular_file(type_ec) || it->is_symlink(type_ec)) continue;
    const std::optional<long> pid = temporary_writer_pid(path);
    if (!pid || being_written_here(path) || !is_stale(path, *pid)) continue;
    if (fs::remove(path, type_ec)) {
      result.removed.push_back(path);
    } else if (type_ec) {
      result.problems.push_back("cannot remove the stale temporary " + path.string() + ": " + type_ec.message());
    }
  }
  // A failed step ends the walk (the iterator is then at its end).
  if (ec) result.problems.push_back("cannot list all of " + dir.string() + ": " + ec.message());
  return result;
}

Result<fs::path> resolve_inside(const fs::path& dir, const std::string& recorded) {
  const fs::path path(recorded);
  if (recorded.empty()) return Status::error("the path is empty");
  if (path.is_absolute() || path.has_root_name() || path.has_root_directory()) {
    return Status::error("'" + recorded + "' is an absolute path (paths must be relative to " + dir.string() + ")");
  }
  const fs::path normal = path.lexically_normal();
  if (normal.empty() || normal == "." || *normal.begin() == "..") {
    return Status::error("'" + recorded + "' leads out of " + dir.string());
  }
  // Symlinks: the canonical form of the file's place must stay under the folder's canonical form.
  std::error_code ec;
  const fs::path base = fs::weakly_canonical(dir, ec);
  if (ec) return Status::error("cannot resolve " + dir.string() + ": " + ec.message());
  const fs::path full = fs::weakly_canonical(base / normal, ec);
  if (ec) return Status::error("cannot resolve '" + recorded + "' in " + dir.string() + ": " + ec.message());
  const fs::path inside = full.lexically_relative(base);
  if (inside.empty() || inside == "." || *inside.begin() == "..") {
    return Status::error("'" + recorded + "' leads out of " + dir.string() + " through a symlink (to " + full.string() + ")");
  }
  return dir / normal;
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
