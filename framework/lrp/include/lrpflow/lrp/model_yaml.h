// YAML architecture descriptions: models for tests and benchmarks without Python.
//
//   name: tiny_cnn
//   input_shape: [3, 32, 32]
//   weights: tiny_cnn_weights.pt   # optional: torch.save'd dict "<layer>.weight"/"<layer>.bias" -> tensor
//   layers:
//     - {name: "0", type: Conv2d, in: 3, out: 8, kernel: 3, padding: 1}
//     - {name: "1", type: ReLU}
//     - {name: "4", type: MaxPool2d, kernel: 2}
//     - {name: "8", type: Flatten}
//     - {name: "9", type: Linear, in: 1024, out: 32}
//     - {name: sum, type: Add, inputs: [a, b]}   # inputs: layer names or "input"; default: previous layer
//
// Without a weights file every Conv2d/Linear weight is drawn Kaiming-normal (fan_in, ReLU gain:
// std = sqrt(2 / fan_in)) from a generator seeded with ModelLoadOptions::seed (or `seed:` in the
// file), biases are zero, BatchNorm statistics are the identity (mean 0, var 1, gamma 1, beta 0).
// Errors name the file and line of the offending entry.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "lrpflow/lrp/graph.h"
#include "lrpflow/lrp/model_import.h"
#include "lrpflow/status.h"

namespace lrpflow::lrp {

Result<std::shared_ptr<Model>> load_yaml_model(const std::filesystem::path& path, const ModelLoadOptions& options = {});

// Same, from YAML text; `source` names it in errors, `base_dir` resolves a relative weights path.
Result<std::shared_ptr<Model>> parse_yaml_model(const std::string& text, const std::string& source,
                                                const std::filesystem::path& base_dir,
                                                const ModelLoadOptions& options = {});

}  // namespace lrpflow::lrp
