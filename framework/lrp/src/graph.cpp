// Layer graph: validation, BatchNorm folding, shape inference and the forward pass.
#include "lrpflow/lrp/graph.h"

#include "lrpflow/lrp/kernels.h"

#include "lrpflow/shape.h"

#include <algorithm>
#include <map>
#include <cctype>
#include <sstream>

#include <ATen/ATen.h>

namespace lrpflow::lrp {
namespace {

struct KindName {
  LayerKind kind;
  const char* name;
};
constexpr KindName kKindNames[] = {
    {LayerKind::Conv2d, "Conv2d"},
    {LayerKind::Linear, "Linear"},
    {LayerKind::ReLU, "ReLU"},
    {LayerKind::MaxPool2d, "MaxPool2d"},
    {LayerKind::AvgPool2d, "AvgPool2d"},
    {LayerKind::AdaptiveAvgPool2d, "AdaptiveAvgPool2d"},
    {LayerKind::Flatten, "Flatten"},
    {LayerKind::Reshape, "Reshape"},
    {LayerKind::Dropout, "Dropout"},
    {LayerKind::BatchNorm, "BatchNorm"},
    {LayerKind::Add, "Add"},
    {LayerKind::Cat, "Cat"},
};

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}


std::string list_string(const std::vector<int64_t>& v) {
  std::ostringstream out;
  for (size_t i = 0; i < v.size(); ++i) out << (i ? "x" : "") << v[i];
  return out.str();
}

// Number of inputs each kind takes; -1: two or more.
int arity(LayerKind kind) {
  switch (kind) {
    case LayerKind::Add: return 2;
    case LayerKind::Cat: return -1;
    default: return 1;
  }
}

Status check_layer(const Layer& layer, int index) {
  const std::string where = "layer '" + layer.name + "' (" + layer_kind_name(layer.kind) + ")";
  const int expected = arity(layer.kind);
  const int got = static_cast<int>(layer.inputs.size());
  if ((expected > 0 && got != expected) || (expected < 0 && got < 2))
    return Status::error(where + " has " + std::to_string(got) + " inputs, expected " +
                         (expected > 0 ? std::to_string(expected) : std::string("at least 2")));
  for (int in : layer.inputs)
    if (in != kModelInput && (in < 0 || in >= index))
      return Status::error(where + " reads layer #" + std::to_string(in) + ", which does not come before it");
  if (layer.kind == LayerKind::Conv2d) {
    if (!layer.weight.defined() || layer.weight.dim() != 4) return Status::error(where + ": weight must be 4-D");
    if (layer.stride.size() != 2 || layer.padding.size() != 2 || layer.dilation.size() != 2)
      return Status::error(where + ": stride, padding and dilation need 2 values each");
  }
  if (layer.kind == LayerKind::Linear && (!layer.weight.defined() || layer.weight.dim() != 2))
    return Status::error(where + ": weight must be 2-D");
  if (is_parametric(layer.kind) && (!layer.bias.defined() || layer.bias.dim() != 1 ||
                                    layer.bias.size(0) != layer.weight.size(0)))
    return Status::error(where + ": bias must be 1-D with one value per output");
  if ((layer.kind == LayerKind::MaxPool2d || layer.kind == LayerKind::AvgPool2d) &&
      (layer.kernel_size.size() != 2 || layer.stride.size() != 2 || layer.padding.size() != 2))
    return Status::error(where + ": kernel_size, stride and padding need 2 values each");
  if (layer.kind == LayerKind::AdaptiveAvgPool2d && layer.output_size.size() != 2)
    return Status::error(where + ": output_size needs 2 values");
  if (layer.kind == LayerKind::BatchNorm &&
      (!layer.weight.defined() || !layer.bias.defined() || !layer.running_mean.defined() || !layer.running_var.defined()))
    return Status::error(where + ": needs weight, bias, running_mean and running_var");
  if (layer.kind == LayerKind::Flatten && layer.start_dim < 1)
    return Status::error(where + ": flattening the batch dimension (start_dim 0) is not supported");
  if (layer.kind == LayerKind::Cat && layer.dim < 1)
    return Status::error(where + ": concatenating along the batch dimension is not supported");
  return Status::ok();
}

// Folds BatchNorm layers into the Conv2d/Linear feeding them when that layer has no other reader:
// W' = W * g / sqrt(var + eps), b' = (b - mean) * g / sqrt(var + eps) + beta. Consumers of the
// BatchNorm then read the folded layer, which keeps its own name (as zennit's canonizer does).
std::vector<Layer> fold_batch_norms(std::vector<Layer> layers) {
  const int n = static_cast<int>(layers.size());
  std::vector<int> readers(n, 0);
  for (const auto& layer : layers)
    for (int in : layer.inputs)
      if (in != kModelInput) ++readers[in];
  std::vector<int> replaced_by(n);
  for (int i = 0; i < n; ++i) replaced_by[i] = i;
  std::vector<bool> removed(n, false);
  for (int i = 0; i < n; ++i) {
    Layer& bn = layers[i];
    if (bn.kind != LayerKind::BatchNorm) continue;
    const int src = bn.inputs[0];
    if (src == kModelInput || readers[src] != 1 || !is_parametric(layers[src].kind)) continue;
    Layer& target = layers[src];
    const int64_t channels = target.weight.size(0);
    if (bn.weight.numel() != channels) continue;  // shapes do not line up: keep the BatchNorm
    at::Tensor scale = bn.weight / at::sqrt(bn.running_var + bn.eps);
    std::vector<int64_t> view(target.weight.dim(), 1);
    view[0] = channels;
    target.weight = target.weight * scale.view(view);
    target.bias = (target.bias - bn.running_mean) * scale + bn.bias;
    target.origin += " + folded " + bn.name;
    removed[i] = true;
    replaced_by[i] = src;
  }
  // Renumber.
  std::vector<int> new_index(n, -1);
  std::vector<Layer> out;
  for (int i = 0; i < n; ++i) {
    if (removed[i]) continue;
    new_index[i] = static_cast<int>(out.size());
    out.push_back(std::move(layers[i]));
  }
  auto resolve = [&](int in) {
    while (in != kModelInput && removed[in]) in = replaced_by[in];
    return in == kModelInput ? kModelInput : new_index[in];
  };
  for (auto& layer : out)
    for (int& in : layer.inputs) in = resolve(in);
  return out;
}

}  // namespace

const char* layer_kind_name(LayerKind kind) {
  for (const auto& k : kKindNames)
    if (k.kind == kind) return k.name;
  return "?";
}

std::optional<LayerKind> layer_kind_from_name(const std::string& name) {
  const std::string wanted = lower(name);
  for (const auto& k : kKindNames)
    if (lower(k.name) == wanted) return k.kind;
  if (wanted == "batchnorm2d") return LayerKind::BatchNorm;
  if (wanted == "sum") return LayerKind::Add;
  return std::nullopt;
}

std::vector<std::string> layer_kind_names() {
  std::vector<std::string> names;
  for (const auto& k : kKindNames) names.emplace_back(k.name);
  return names;
}

bool is_parametric(LayerKind kind) { return kind == LayerKind::Conv2d || kind == LayerKind::Linear; }

std::vector<at::Tensor> Activations::inputs_of(const Model& model, int index) const {
  std::vector<at::Tensor> result;
  for (int in : model.layer(index).inputs) result.push_back(in == kModelInput ? input : outputs[in]);
  return result;
}

Activations Activations::repeat_sample(int64_t sample, int64_t rows, bool copy) const {
  auto repeat = [&](const at::Tensor& t) {
    if (!t.defined()) return t;
    std::vector<int64_t> sizes = t.sizes().vec();
    sizes[0] = rows;
    at::Tensor view = t.narrow(0, sample, 1).expand(sizes);
    return copy ? view.contiguous() : view;
  };
  Activations repeated;
  repeated.input = repeat(input);
  for (const auto& out : outputs) repeated.outputs.push_back(repeat(out));
  for (const auto& idx : pool_indices) repeated.pool_indices.push_back(repeat(idx));
  repeated.logits = repeat(logits);
  return repeated;
}

int64_t Activations::rows_per_batch() const {
  constexpr int64_t kBudget = int64_t{256} << 20;
  int64_t bytes = input.defined() ? input.numel() / std::max<int64_t>(1, input.size(0)) * input.element_size() : 0;
  for (const auto& out : outputs)
    if (out.defined() && out.dim() > 0) bytes += out.numel() / std::max<int64_t>(1, out.size(0)) * out.element_size();
  return std::max<int64_t>(1, kBudget / std::max<int64_t>(1, bytes));
}

Result<std::shared_ptr<Model>> Model::create(std::vector<Layer> layers, std::vector<int64_t> input_shape,
                                             std::string source) {
  if (layers.empty()) return Status::error(source + ": the model has no layers");
  for (int i = 0; i < static_cast<int>(layers.size()); ++i) {
    Status status = check_layer(layers[i], i);
    if (!status) return status.with_context(source);
  }
  auto model = std::shared_ptr<Model>(new Model());
  model->layers_ = fold_batch_norms(std::move(layers));
  model->source_ = std::move(source);
  model->input_shape_ = std::move(input_shape);
  // Unique names: a module called twice (one ReLU module used at two places) gets "#1", "#2", ...
  std::map<std::string, int> seen;
  for (auto& layer : model->layers_) {
    int count = seen[layer.name]++;
    if (count > 0) layer.name += "#" + std::to_string(count);
  }
  model->consumers_.assign(model->layers_.size(), {});
  for (int i = 0; i < model->size(); ++i)
    for (int in : model->layers_[i].inputs)
      if (in != kModelInput) model->consumers_[in].push_back(i);
  for (int i = 0; i + 1 < model->size(); ++i)
    if (model->consumers_[i].empty())
      return Status::error(model->source_ + ": layer '" + model->layers_[i].name +
                           "' is not used by anything (only the last layer may be the output)");
  if (!model->input_shape_.empty()) {
    // The shapes are found by running the model once on zeros of the input shape: a mistyped
    // dimension must be an error, not gigabytes allocated.
    int64_t values = 1;
    for (int64_t dim : model->input_shape_) {
      if (dim < 1 || dim > kMaxModelInputValues / values) {
        return Status::error(model->source_ + ": input shape " + shape_string(model->input_shape_) +
                             (dim < 1 ? " has a dimension < 1"
                                      : " has more than " + std::to_string(kMaxModelInputValues) + " values per sample"));
      }
      values *= dim;
    }
    std::vector<int64_t> shape{1};
    shape.insert(shape.end(), model->input_shape_.begin(), model->input_shape_.end());
    try {
      at::NoGradGuard no_grad;
      at::Tensor dummy = at::zeros(shape);
      std::vector<at::Tensor> outputs;
      for (int i = 0; i < model->size(); ++i) {
        std::vector<at::Tensor> ins;
        for (int in : model->layers_[i].inputs) ins.push_back(in == kModelInput ? dummy : outputs[in]);
        outputs.push_back(model->run_layer(i, ins, nullptr));
        auto sizes = outputs.back().sizes();
        model->layers_[i].output_shape.assign(sizes.begin() + 1, sizes.end());
      }
    } catch (const std::exception& e) {
      return Status::error(model->source_ + ": the model does not run on input shape " +
                           shape_string(model->input_shape_) + ": " + exception_message(e));
    }
  }
  return model;
}

int Model::find(const std::string& name) const {
  for (int i = 0; i < size(); ++i)
    if (layers_[i].name == name) return i;
  return -1;
}

std::vector<std::string> Model::parametric_layer_names() const {
  std::vector<std::string> names;
  for (const auto& layer : layers_)
    if (is_parametric(layer.kind)) names.push_back(layer.name);
  return names;
}

std::int64_t Model::parameter_count() const {
  std::int64_t total = 0;
  for (const auto& layer : layers_) {
    if (layer.weight.defined()) total += layer.weight.numel();
    if (layer.bias.defined()) total += layer.bias.numel();
  }
  return total;
}

at::Tensor Model::run_layer(int index, const std::vector<at::Tensor>& in, at::Tensor* indices) const {
  const Layer& l = layer(index);
  switch (l.kind) {
    case LayerKind::Conv2d:
    case LayerKind::Linear:
      return affine_forward(l, in[0], l.weight, l.bias);
    case LayerKind::ReLU:
      return at::relu(in[0]);
    case LayerKind::MaxPool2d: {
      auto [out, idx] = at::max_pool2d_with_indices(in[0], l.kernel_size, l.stride, l.padding, l.dilation, l.ceil_mode);
      if (indices) *indices = idx;
      return out;
    }
    case LayerKind::AvgPool2d:
      return at::avg_pool2d(in[0], l.kernel_size, l.stride, l.padding, l.ceil_mode, l.count_include_pad,
                            l.divisor_override ? c10::optional<int64_t>(*l.divisor_override) : c10::nullopt);
    case LayerKind::AdaptiveAvgPool2d:
      return at::adaptive_avg_pool2d(in[0], l.output_size);
    case LayerKind::Flatten:
      return at::flatten(in[0], l.start_dim, l.end_dim);
    case LayerKind::Reshape: {
      std::vector<int64_t> shape{in[0].size(0)};
      shape.insert(shape.end(), l.shape.begin(), l.shape.end());
      return at::reshape(in[0], shape);
    }
    case LayerKind::Dropout:
      return in[0];
    case LayerKind::BatchNorm:
      return at::batch_norm(in[0], l.weight, l.bias, l.running_mean, l.running_var, false, 0.0, l.eps, false);
    case LayerKind::Add:
      return at::add(in[0], in[1]);
    case LayerKind::Cat:
      return at::cat(in, l.dim);
  }
  throw std::logic_error("unknown layer kind");
}

Result<Activations> Model::forward(const at::Tensor& input) const { return forward(input, {"*"}); }

Result<Activations> Model::forward(const at::Tensor& input, const std::vector<std::string>& keep) const {
  const bool keep_all = std::find(keep.begin(), keep.end(), "*") != keep.end();
  std::vector<bool> kept(layers_.size(), keep_all);
  for (const auto& name : keep) {
    if (name == "*") continue;
    const int index = find(name);
    if (index < 0) return Status::error("forward: no layer named '" + name + "' to keep");
    kept[index] = true;
  }
  kept.back() = true;  // the logits
  if (!input.defined()) return Status::error("forward: the input tensor is undefined");
  if (!input_shape_.empty()) {
    const bool rank_ok = input.dim() == static_cast<int64_t>(input_shape_.size()) + 1;
    bool dims_ok = rank_ok;
    for (size_t i = 0; rank_ok && i < input_shape_.size(); ++i)
      dims_ok = dims_ok && input.size(static_cast<int64_t>(i) + 1) == input_shape_[i];
    if (!dims_ok)
      return Status::error("forward: input of shape " + shape_string(input.sizes()) + " does not match the model's " +
                           "[N, " + shape_string(input_shape_).substr(1));
  }
  // Without a declared input shape, the layers that read the input still say what they take.
  for (const Layer& layer : layers_) {
    if (std::find(layer.inputs.begin(), layer.inputs.end(), kModelInput) == layer.inputs.end()) continue;
    if (layer.kind == LayerKind::Conv2d) {
      const int64_t channels = layer.weight.size(1) * layer.groups;
      if (input.dim() != 4 || input.size(1) != channels)
        return Status::error("forward: input of shape " + shape_string(input.sizes()) + " does not fit layer '" + layer.name +
                             "', which takes [N, " + std::to_string(channels) + " channels, H, W]");
    } else if (layer.kind == LayerKind::Linear && (input.dim() < 2 || input.size(-1) != layer.weight.size(1))) {
      return Status::error("forward: input of shape " + shape_string(input.sizes()) + " does not fit layer '" + layer.name +
                           "', which takes " + std::to_string(layer.weight.size(1)) + " features");
    }
  }
  if (!at::isfinite(input).all().item<bool>()) return Status::error("forward: the input holds NaN or Inf values");
  Activations acts;
  acts.input = input.scalar_type() == at::kFloat ? input : input.to(at::kFloat);
  acts.outputs.resize(layers_.size());
  acts.pool_indices.resize(layers_.size());
  for (int i = 0; i < size(); ++i) {
    try {
      acts.outputs[i] = run_layer(i, acts.inputs_of(*this, i),
                                  layers_[i].kind == LayerKind::MaxPool2d ? &acts.pool_indices[i] : nullptr);
    } catch (const std::exception& e) {
      std::string message = exception_message(e);
      message = message.substr(0, message.find('\n'));
      return Status::error("forward: layer '" + layers_[i].name + "' (" + layer_kind_name(layers_[i].kind) +
                           ") failed: " + message);
    }
    // Release inputs whose last reader this was, unless they are to be kept.
    for (int in : layers_[i].inputs) {
      if (in == kModelInput || kept[in] || consumers_[in].back() != i) continue;
      acts.outputs[in] = at::Tensor();
      acts.pool_indices[in] = at::Tensor();
    }
  }
  acts.logits = acts.outputs.back();
  return acts;
}

std::string layer_summary(const Layer& l) {
  std::ostringstream out;
  switch (l.kind) {
    case LayerKind::Conv2d:
      out << "in=" << l.weight.size(1) * l.groups << " out=" << l.weight.size(0) << " k=" << l.weight.size(2) << "x"
          << l.weight.size(3) << " s=" << list_string(l.stride) << " p=" << list_string(l.padding);
      if (l.dilation != std::vector<int64_t>{1, 1}) out << " d=" << list_string(l.dilation);
      if (l.groups != 1) out << " groups=" << l.groups;
      break;
    case LayerKind::Linear:
      out << "in=" << l.weight.size(1) << " out=" << l.weight.size(0);
      break;
    case LayerKind::MaxPool2d:
    case LayerKind::AvgPool2d:
      out << "k=" << list_string(l.kernel_size) << " s=" << list_string(l.stride) << " p=" << list_string(l.padding);
      if (l.ceil_mode) out << " ceil_mode";
      break;
    case LayerKind::AdaptiveAvgPool2d:
      out << "output_size=" << list_string(l.output_size);
      break;
    case LayerKind::Flatten:
      out << "start_dim=" << l.start_dim << " end_dim=" << l.end_dim;
      break;
    case LayerKind::Reshape:
      out << "shape=" << shape_string(l.shape);
      break;
    case LayerKind::BatchNorm:
      out << "features=" << l.weight.numel() << " eps=" << l.eps;
      break;
    case LayerKind::Cat:
      out << "dim=" << l.dim;
      break;
    default:
      break;
  }
  return out.str();
}

std::string Model::describe() const {
  std::ostringstream out;
  out << "model " << source_ << ": " << size() << " layers, " << parameter_count() << " parameters";
  if (!input_shape_.empty()) out << ", input [N, " << shape_string(input_shape_).substr(1);
  out << "\n";
  size_t width = 5;
  for (const auto& layer : layers_) width = std::max(width, layer.name.size());
  for (int i = 0; i < size(); ++i) {
    const Layer& l = layers_[i];
    std::string inputs;
    for (int in : l.inputs) inputs += (inputs.empty() ? "" : ",") + (in == kModelInput ? std::string("input") : layers_[in].name);
    out << "  " << l.name << std::string(width - l.name.size() + 2, ' ') << layer_kind_name(l.kind);
    out << std::string(std::max<size_t>(2, 20 - std::string(layer_kind_name(l.kind)).size()), ' ');
    out << "<- " << inputs;
    if (!l.output_shape.empty()) out << "  -> " << shape_string(l.output_shape);
    std::string summary = layer_summary(l);
    if (!summary.empty()) out << "  " << summary;
    const auto folded = l.origin.find(" + folded ");
    if (folded != std::string::npos) out << "  (BatchNorm " << l.origin.substr(folded + 10) << " folded in)";
    out << "\n";
  }
  return out.str();
}

}  // namespace lrpflow::lrp
