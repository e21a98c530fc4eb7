#include "input_paths.h"

#include <glob.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <map>

namespace lrpflow::loaders {
namespace fs = std::filesystem;

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

bool has_extension(const fs::path& file, const std::vector<std::string>& extensions) {
  const std::string ext = lower(file.extension().string());
  return std::find(extensions.begin(), extensions.end(), ext) != extensions.end();
}

std::string extension_list(const std::vector<std::string>& extensions) {
  std::string s;
  for (const auto& e : extensions) s += (s.empty() ? "" : ", ") + e;
  return s;
}

bool is_glob(const std::string& spec) { return spec.find_first_of("*?[") != std::string::npos; }

Result<std::vector<fs::path>> list_folder(const fs::path& folder, const std::vector<std::string>& extensions,
                                          const std::string& what) {
  std::vector<fs::path> files;
  std::error_code ec;
  for (fs::directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_regular_file(ec) && has_extension(it->path(), extensions)) files.push_back(it->path());
  }
  if (ec) return Status::error(folder.string() + ": cannot list folder: " + ec.message());
  if (files.empty())
    return Status::error(folder.string() + ": folder has no " + what + " files (" + extension_list(extensions) + ")");
  return files;
}

Result<std::vector<fs::path>> expand_glob(const fs::path& pattern, const std::string& what) {
  glob_t matches{};
  const int rc = ::glob(pattern.c_str(), 0, nullptr, &matches);
  std::vector<fs::path> files;
  if (rc == 0) {
    for (std::size_t i = 0; i < matches.gl_pathc; ++i) {
      std::error_code ec;
      if (fs::is_regular_file(matches.gl_pathv[i], ec)) files.emplace_back(matches.gl_pathv[i]);
    }
  }
  ::globfree(&matches);
  if (rc != 0 && rc != GLOB_NOMATCH) return Status::error(pattern.string() + ": cannot expand the pattern");
  if (files.empty()) return Status::error(pattern.string() + ": pattern matches no " + what + " files");
  return files;
}

Result<std::vector<fs::path>> read_list_file(const fs::path& list_file, const std::string& what) {
  std::ifstream in(list_file);
  if (!in) return Status::error(list_file.string() + ": cannot open list file");
  std::vector<fs::path> files;
  std::string line;
  int line_number = 0;
  while (std::getline(in, line)) {
    ++line_number;
    // Trim surrounding blanks (and the '\r' of files written on Windows).
    const auto first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos || line[first] == '#') continue;
    line = line.substr(first, line.find_last_not_of(" \t\r") - first + 1);
    fs::path file = fs::path(line).is_absolute() ? fs::path(line) : list_file.parent_path() / line;
    std::error_code ec;
    if (!fs::is_regular_file(file, ec))
      return Status::error(list_file.string() + ":" + std::to_string(line_number) + ": " + file.string() +
                           (fs::exists(file, ec) ? " is not a file" : ": no such file"));
    files.push_back(file.lexically_normal());
  }
  if (in.bad()) return Status::error(list_file.string() + ": read error");
  if (files.empty()) return Status::error(list_file.string() + ": list file names no " + what + " files");
  return files;
}

}  // namespace

Result<std::vector<fs::path>> expand_input_paths(const std::string& spec, const fs::path& base_dir,
                                                 const std::vector<std::string>& extensions, const std::string& what) {
  if (spec.empty()) return Status::error("path is empty");
  const fs::path resolved = (fs::path(spec).is_absolute() ? fs::path(spec) : base_dir / spec).lexically_normal();
  std::error_code ec;
  Result<std::vector<fs::path>> files = Status::error("unreachable");
  if (fs::is_directory(resolved, ec)) {
    files = list_folder(resolved, extensions, what);
  } else if (fs::is_regular_file(resolved, ec)) {
    if (lower(resolved.extension().string()) == ".txt") files = read_list_file(resolved, what);
    else files = std::vector<fs::path>{resolved};
  } else if (is_glob(spec)) {
    files = expand_glob(resolved, what);
  } else {
    return Status::error(resolved.string() + ": no such file or folder");
  }
  if (!files) return files;
  std::vector<fs::path> sorted = std::move(files).value();
  std::sort(sorted.begin(), sorted.end());
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  return sorted;
}

std::vector<ItemRef> item_refs_for(const std::vector<fs::path>& files) {
  // Common folder of all files: ids are relative to it.
  fs::path root = files.empty() ? fs::path() : files.front().parent_path();
  for (const auto& file : files) {
    while (!root.empty() && root != root.parent_path() && file.parent_path().lexically_relative(root).string().rfind("..", 0) == 0)
      root = root.parent_path();
  }
  std::vector<std::string> ids;
  std::map<std::string, int> uses;
  for (const auto& file : files) {
    fs::path relative = file.lexically_relative(root);
    ids.push_back(relative.replace_extension().generic_string());
    ++uses[ids.back()];
  }
  std::vector<ItemRef> refs;
  for (std::size_t i = 0; i < files.size(); ++i) {
    std::string id = uses[ids[i]] > 1 ? files[i].lexically_relative(root).generic_string() : ids[i];
    refs.push_back({std::move(id), files[i].string()});
  }
  return refs;
}

}  // namespace lrpflow::loaders
