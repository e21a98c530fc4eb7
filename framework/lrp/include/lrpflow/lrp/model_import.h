// Model import: TorchScript files (.pt) and YAML architecture descriptions into a lrp::Model.
//
// TorchScript: the module is frozen (weights become constants), inlined and simplified, then every
// node on the path from the input to the output is mapped to a Layer named after the module that
// produced it (its PyTorch module path). Supported ops (scripted and traced models alike):
//   aten::conv2d, aten::_convolution (2-D, not transposed), aten::linear, aten::addmm, aten::matmul
//   (+ a following bias add), aten::relu(_), aten::max_pool2d, aten::avg_pool2d,
//   aten::adaptive_avg_pool2d, aten::flatten, aten::view, aten::reshape, aten::dropout(_),
//   aten::feature_dropout(_), aten::batch_norm, aten::add(_), aten::cat, aten::contiguous.
// Any other op touching the tensor path is a load-time error naming the op, its module path and the
// file, and listing the supported ops: an unknown op is never silently treated as identity.
//
// Thread safety: loading functions are re-entrant; the resulting Model is immutable.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "lrpflow/lrp/graph.h"
#include "lrpflow/status.h"

namespace lrpflow::lrp {

struct ModelLoadOptions {
  // Per-sample input shape (C,H,W) for shape inference and input checks; empty: unknown (TorchScript)
  // or taken from the YAML file.
  std::vector<int64_t> input_shape;
  // YAML models without a weights file: seed of the random (Kaiming-normal) weights.
  std::uint64_t seed = 0;
};

// Imports a TorchScript module saved with torch.jit.script(...).save or torch.jit.trace(...).save.
Result<std::shared_ptr<Model>> load_torchscript_model(const std::filesystem::path& path,
                                                      const ModelLoadOptions& options = {});

// Dispatches on the extension: .pt/.pth/.ts -> TorchScript, .yaml/.yml -> model_yaml.h.
Result<std::shared_ptr<Model>> load_model(const std::filesystem::path& path, const ModelLoadOptions& options = {});

// The op names load_torchscript_model understands (for error messages and docs).
const std::vector<std::string>& supported_torchscript_ops();

}  // namespace lrpflow::lrp
