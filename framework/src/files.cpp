#include "lrpflow/files.h"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

namespace lrpflow {
namespace fs = std::filesystem;

namespace {

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
    const bool flushed = std::fflush(f) == 0 && ::fsync(::fileno(f)) == 0;
    const bool closed = std::fclose(f) == 0;
    if (!written || !flushed || !closed) return Status::error("cannot write " + path.string() + ": " + std::strerror(errno));
    return Status::ok();
  });
}

Status write_file_atomic_with(const fs::path& path, const std::function<Status(const fs::path& tmp)>& writer) {
  LRPFLOW_RETURN_IF_ERROR(ensure_parent(path));
  const fs::path tmp = temporary_for(path);
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
  return rename_into_place(tmp, path);
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

std::string safe_file_stem(std::string_view id) {
  std::string out;
  out.reserve(id.size());
  for (char c : id) {
    const unsigned char u = static_cast<unsigned char>(c);
    out.push_back((u < 0x20 || c == '/' || c == '\\' || c == ':') ? '_' : c);
  }
  if (out.empty() || out == "." || out == "..") out = "_" + out;
  return out;
}

}  // namespace lrpflow
