// The layer graph: what the LRP engine sees of a neural network.
//
// A Model is a list of layers in forward (topological) order. Each layer has a name (the PyTorch
// module path, e.g. "features.28"; made unique with a "#k" suffix when one module is called
// several times), a kind, its parameters and the layers it reads (or the model input). The last
// layer's output is the model output (the logits).
//
// Lifecycle: built once by an importer (model_import.h, model_yaml.h) through Model::create(),
// which checks the wiring, folds BatchNorms into the preceding Conv2d/Linear and infers shapes.
// Afterwards a Model is immutable; forward() may run on any number of threads at once.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "lrpflow/resource.h"
#include "lrpflow/status.h"

namespace lrpflow::lrp {

enum class LayerKind {
  Conv2d,
  Linear,
  ReLU,
  MaxPool2d,
  AvgPool2d,
  AdaptiveAvgPool2d,
  Flatten,
  Reshape,
  Dropout,    // identity at inference
  BatchNorm,  // only when it could not be folded into a preceding Conv2d/Linear
  Add,        // element-wise sum of two tensors (residual connection)
  Cat,        // concatenation along a dimension
};

const char* layer_kind_name(LayerKind kind);
std::optional<LayerKind> layer_kind_from_name(const std::string& name);  // case-insensitive
std::vector<std::string> layer_kind_names();
// Conv2d and Linear: the layers with weights, the ones rule sets address by position.
bool is_parametric(LayerKind kind);

// Index used in Layer::inputs for the model input.
inline constexpr int kModelInput = -1;

// The most values one sample of a model's declared input shape may have (64 Mi floats, 256 MB):
// Model::create runs the model once on zeros of that shape.
inline constexpr int64_t kMaxModelInputValues = int64_t{1} << 26;

struct Layer {
  std::string name;        // module path, unique within the model
  LayerKind kind = LayerKind::ReLU;
  std::vector<int> inputs;  // producing layers (indices into Model::layers()) or kModelInput
  std::string origin;      // where it came from, e.g. "aten::conv2d" or "model.yaml:12"

  // Conv2d, Linear: bias is always defined (zeros for bias-free modules). BatchNorm: gamma, beta.
  at::Tensor weight;
  at::Tensor bias;
  // BatchNorm running statistics.
  at::Tensor running_mean;
  at::Tensor running_var;
  double eps = 1e-5;

  // Conv2d and the pools.
  std::vector<int64_t> kernel_size;
  std::vector<int64_t> stride;
  std::vector<int64_t> padding;
  std::vector<int64_t> dilation{1, 1};
  int64_t groups = 1;
  bool ceil_mode = false;
  bool count_include_pad = true;            // AvgPool2d
  std::optional<int64_t> divisor_override;  // AvgPool2d
  std::vector<int64_t> output_size;         // AdaptiveAvgPool2d (H, W)

  // Flatten: dims as in torch.flatten (batch dimension included, start_dim >= 1).
  int64_t start_dim = 1;
  int64_t end_dim = -1;
  // Reshape: per-sample target shape (without the batch dimension; one entry may be -1).
  std::vector<int64_t> shape;
  // Cat: dimension (batch dimension included, >= 1).
  int64_t dim = 1;

  // Filled by Model::create(): per-sample output shape (without batch), empty if the input shape
  // was not known.
  std::vector<int64_t> output_shape;
};

// Everything a forward pass leaves behind for LRP.
struct Activations {
  at::Tensor input;
  std::vector<at::Tensor> outputs;       // one per layer (pre-activation for Conv2d/Linear)
  std::vector<at::Tensor> pool_indices;  // MaxPool2d layers: argmax indices; undefined elsewhere
  at::Tensor logits;                     // output of the last layer
  // The tensors layer `index` read, in the order of Layer::inputs.
  std::vector<at::Tensor> inputs_of(const class Model& model, int index) const;
  // Sample `sample` of this pass repeated `rows` times: for running several variants of one
  // sample's backward walk or restricted forward as one batch. Copies, or with `copy` false views
  // with stride 0 along the batch (no memory, for code whose ops accept any strides).
  Activations repeat_sample(int64_t sample, int64_t rows, bool copy = true) const;
  // How many such rows fit one batch (at least 1): about 256 MB of repeated tensors, which bounds
  // the batched passes' memory on large models while small ones run every variant at once.
  int64_t rows_per_batch() const;
};

class Model : public Resource {
 public:
  // Validates the wiring (inputs refer to earlier layers, arity per kind, parameter shapes), folds
  // every BatchNorm whose only input is a Conv2d/Linear read by nothing else into that layer, and
  // infers shapes when `input_shape` (C,H,W or features) is given. `source` names the file in errors.
  static Result<std::shared_ptr<Model>> create(std::vector<Layer> layers, std::vector<int64_t> input_shape,
                                               std::string source);

  const std::vector<Layer>& layers() const { return layers_; }
  const Layer& layer(int index) const { return layers_.at(static_cast<size_t>(index)); }
  int size() const { return static_cast<int>(layers_.size()); }
  int output_layer() const { return size() - 1; }
  const std::vector<int64_t>& input_shape() const { return input_shape_; }
  const std::string& source() const { return source_; }
  // Layers reading each layer's output (by index), in forward order.
  const std::vector<std::vector<int>>& consumers() const { return consumers_; }
  // Index of the layer named `name`, or -1.
  int find(const std::string& name) const;
  // Names of the Conv2d/Linear layers in forward order.
  std::vector<std::string> parametric_layer_names() const;
  std::int64_t parameter_count() const;

  // Runs the model on a batch [N, ...]. Keeps every layer's output (LRP needs all of them) and the
  // max-pool indices. Autograd records the ops if grad mode is on (used for plain gradients).
  // Errors: wrong input rank/shape, NaN/Inf in the input, a layer that fails (named).
  Result<Activations> forward(const at::Tensor& input) const;
  // Same, keeping only the outputs of the layers named in `keep` (and the logits); the others are
  // released as soon as their last consumer has run. Unknown names are an error.
  Result<Activations> forward(const at::Tensor& input, const std::vector<std::string>& keep) const;
  // One layer on its inputs; `indices` receives the max-pool argmax (may be null).
  at::Tensor run_layer(int index, const std::vector<at::Tensor>& inputs, at::Tensor* indices) const;

  // Human-readable table of the layers (name, kind, inputs, output shape, parameters).
  std::string describe() const;

 private:
  std::vector<Layer> layers_;
  std::vector<int64_t> input_shape_;
  std::string source_;
  std::vector<std::vector<int>> consumers_;
};

// "Conv2d(3->64, k=3x3, s=1, p=1)"-style summary of a layer's hyper-parameters.
std::string layer_summary(const Layer& layer);

}  // namespace lrpflow::lrp
