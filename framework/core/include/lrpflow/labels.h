// Class names for predictions: a list in the options, or a file (one name per line, or a YAML file
// with a `classes:` list, like the model sidecars in models/).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "lrpflow/status.h"

namespace lrpflow {

Result<std::vector<std::string>> load_labels(const std::filesystem::path& file);

// The name of class `index`, or "" when unknown.
std::string label_of(const std::vector<std::string>& labels, std::int64_t index);

}  // namespace lrpflow
