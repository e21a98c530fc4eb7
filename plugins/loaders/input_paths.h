// Turning a loader's `path` option into a sorted list of input files and unique item ids.
//
// `path` is one of (relative paths resolve against the pipeline's directory):
//   - a folder: every file in it (not recursive) whose extension is one of `extensions`;
//   - a glob pattern such as `imgs/*.png` (POSIX glob; wildcards may be in any component);
//   - a list file `*.txt`: one path per line, relative to the list file's folder; blank lines and
//     lines starting with '#' are skipped;
//   - a single file.
// The result is sorted by path so that every run of the same inputs sees the same order.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "lrpflow/stage.h"
#include "lrpflow/status.h"

namespace lrpflow::loaders {

// `what` names the kind of input in messages ("image", ".npy"). Errors name the folder, pattern or
// list file (and line) that produced nothing or pointed at a missing file.
Result<std::vector<std::filesystem::path>> expand_input_paths(const std::string& spec,
                                                              const std::filesystem::path& base_dir,
                                                              const std::vector<std::string>& extensions,
                                                              const std::string& what);

// Item refs for sorted files: the id is the path relative to the files' common folder without the
// extension (`shirt`, `sub/shirt`), or with the extension when two files would share an id.
std::vector<ItemRef> item_refs_for(const std::vector<std::filesystem::path>& files);

}  // namespace lrpflow::loaders
