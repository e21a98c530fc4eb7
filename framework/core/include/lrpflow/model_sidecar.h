// Model sidecars: <model>.yaml beside a TorchScript <model>.pt (models/*.yaml, written by
// tools/export_torchvision.py and tools/train_fashion_mnist.py). They say what the model expects
// (input shape, preprocessing, class names, ZBox bounds) and where its weights come from;
// `lrpflow explain` fills in what the command line leaves open from them, and the model resource
// warns when the weights are random.
//
// A sidecar is optional and advisory: a missing file gives an empty ModelSidecar, and an
// unreadable file or entry is skipped with a problem that names the file (and the key), never an
// error or a crash. Thread-safe (no shared state).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace lrpflow {

struct ModelSidecar {
  std::filesystem::path file;  // the sidecar read; empty when there is none
  bool readable = false;       // the file parsed as YAML
  std::optional<std::vector<std::int64_t>> input_shape;  // `input_shape: [C, H, W]`
  std::optional<int> resize;                             // `resize: N` (shorter side)
  std::optional<int> center_crop;                        // `center_crop: N`
  std::optional<std::vector<double>> mean, std;          // `mean: [...]`, `std: [...]`
  std::size_t class_count = 0;                           // entries of the `classes:` list
  // `zbox: {low: ..., high: ...}` as --param values: "-0.81" or "[-0.81, -0.5]".
  std::optional<std::string> zbox_low, zbox_high;
  std::string weights;  // `weights:`, e.g. "random (seed 0) ..."; empty when not a scalar
  std::vector<std::string> problems;  // what was skipped, each naming the file
};

// <model>.yaml for a .pt model; empty for any other model file.
std::filesystem::path sidecar_path(const std::filesystem::path& model);

// Reads the sidecar of `model` (see sidecar_path); no sidecar: an empty ModelSidecar.
ModelSidecar read_model_sidecar(const std::filesystem::path& model);

// The same for sidecar text already in memory; `file` names it in the problems.
ModelSidecar parse_model_sidecar(const std::string& text, const std::filesystem::path& file);

}  // namespace lrpflow
