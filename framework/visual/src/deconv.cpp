#include "lrpflow/visual/deconv.h"

#include <ATen/ATen.h>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>

#include "lrpflow/lrp/kernels.h"

namespace lrpflow::visual {

namespace {

using lrp::Layer;
using lrp::LayerKind;

// The layer's only consumer when it is a ReLU, else -1.
int relu_after(const lrp::Model& model, int index) {
  const auto& consumers = model.consumers()[static_cast<size_t>(index)];
  if (consumers.size() == 1 && model.layer(consumers[0]).kind == LayerKind::ReLU) return consumers[0];
  return -1;
}

// The signal at each input of `layer`, given the signal at its output.
Result<std::vector<at::Tensor>> step_down(const Layer& layer, const at::Tensor& signal,
                                          const std::vector<at::Tensor>& inputs, const at::Tensor& output,
                                          const at::Tensor& pool_indices, bool guided) {
  switch (layer.kind) {
    case LayerKind::Conv2d:
      return std::vector<at::Tensor>{lrp::affine_transpose(layer, signal, inputs[0], layer.weight)};
    case LayerKind::Linear:
      return std::vector<at::Tensor>{signal.matmul(layer.weight)};
    case LayerKind::ReLU: {
      at::Tensor rectified = at::relu(signal);
      if (guided) rectified = rectified * (inputs[0] > 0).to(rectified.scalar_type());
      return std::vector<at::Tensor>{rectified};
    }
    case LayerKind::MaxPool2d:
      // Unpooling with the switches: each value goes back to where the maximum was.
      return std::vector<at::Tensor>{at::max_pool2d_with_indices_backward(signal, inputs[0], layer.kernel_size, layer.stride,
                                                                          layer.padding, layer.dilation, layer.ceil_mode,
                                                                          pool_indices)};
    case LayerKind::AvgPool2d:
      return std::vector<at::Tensor>{at::avg_pool2d_backward(signal, inputs[0], layer.kernel_size, layer.stride,
                                                             layer.padding, layer.ceil_mode, layer.count_include_pad,
                                                             layer.divisor_override ? c10::optional<int64_t>(*layer.divisor_override)
                                                                                    : c10::nullopt)};
    case LayerKind::AdaptiveAvgPool2d:
      return std::vector<at::Tensor>{at::_adaptive_avg_pool2d_backward(signal, inputs[0])};
    case LayerKind::Flatten:
    case LayerKind::Reshape:
      return std::vector<at::Tensor>{signal.reshape(inputs[0].sizes())};
    case LayerKind::Dropout:
      return std::vector<at::Tensor>{signal};
    case LayerKind::BatchNorm: {
      const at::Tensor scale = layer.weight / at::sqrt(layer.running_var + layer.eps);
      std::vector<int64_t> shape(static_cast<size_t>(signal.dim()), 1);
      shape[1] = scale.numel();
      return std::vector<at::Tensor>{signal * scale.reshape(shape)};
    }
    case LayerKind::Add:
      return std::vector<at::Tensor>{signal, signal};
    case LayerKind::Cat: {
      std::vector<int64_t> sizes;
      for (const auto& in : inputs) sizes.push_back(in.size(layer.dim));
      return signal.split_with_sizes(sizes, layer.dim);
    }
  }
  (void)output;
  return Status::error(std::string("deconvolution cannot pass through a ") + lrp::layer_kind_name(layer.kind) + " layer");
}

}  // namespace

Result<at::Tensor> deconvolve(const lrp::Model& model, const lrp::Activations& activations, int64_t sample,
                              const std::string& layer_name, int64_t neuron, const DeconvOptions& options) {
  auto one = deconvolve_each(model, activations, sample, {{layer_name, neuron}}, options);
  if (!one) return one.status();
  return one.value().squeeze(0);
}

namespace {

// One batched walk for targets[begin, end): row k - begin is targets[k]. `order` lists them with
// the highest chosen layer first, so the rows that have started at or above any layer are a
// prefix: a layer's step runs on those rows only (a row joins the walk at its own layer instead of
// carrying zeros through every layer above it).
Result<at::Tensor> deconvolve_rows(const lrp::Model& model, const lrp::Activations& activations, int64_t sample,
                                   const std::vector<DeconvTarget>& targets, const std::vector<size_t>& order,
                                   size_t begin, size_t end, const DeconvOptions& options) {
  const auto rows = static_cast<int64_t>(end - begin);
  // Every row sees sample `sample`'s forward pass (views: the steps only read them).
  const lrp::Activations batch = activations.repeat_sample(sample, rows, /*copy=*/false);
  std::vector<at::Tensor> signal_at(static_cast<size_t>(model.size()));
  int top = -1;
  for (size_t k = begin; k < end; ++k) {
    const DeconvTarget& target = targets[order[k]];
    const int chosen = model.find(target.layer);
    if (chosen < 0) return Status::error("layer '" + target.layer + "' is not in the model");
    const Layer& chosen_layer = model.layer(chosen);
    if (!lrp::is_parametric(chosen_layer.kind))
      return Status::error("layer '" + target.layer + "' is a " + lrp::layer_kind_name(chosen_layer.kind) +
                           "; deconvolution starts at a Conv2d or Linear layer");
    const int relu = relu_after(model, chosen);
    const at::Tensor& feature = batch.outputs[static_cast<size_t>(relu >= 0 ? relu : chosen)];
    const int64_t neurons = feature.size(1);
    if (target.neuron < 0 || target.neuron >= neurons)
      return Status::error("neuron " + std::to_string(target.neuron) + " is outside layer '" + target.layer + "' (" +
                           std::to_string(neurons) + " neurons)");
    // Keep the chosen neuron only (optionally only its strongest position).
    const auto row = static_cast<int64_t>(k - begin);
    at::Tensor channel = feature[row].select(0, target.neuron);
    if (options.strongest_position_only) {
      at::Tensor flat = channel.reshape({-1});
      const int64_t where = flat.argmax().item<int64_t>();
      at::Tensor only = at::zeros_like(flat);
      only[where] = flat[where];
      channel = only.reshape(channel.sizes());
    }
    // The start tensor covers the rows up to this one (the earlier rows started higher up).
    at::Tensor start = at::zeros_like(lrp::leading_rows(feature, row + 1));
    start[row].select(0, target.neuron).copy_(channel);
    at::Tensor& signal = signal_at[static_cast<size_t>(chosen)];
    signal = lrp::add_leading_rows(signal, start);
    top = std::max(top, chosen);
  }

  at::Tensor at_input;
  for (int i = top; i >= 0; --i) {
    const at::Tensor& signal = signal_at[static_cast<size_t>(i)];
    if (!signal.defined()) continue;
    const int64_t active = signal.size(0);
    const Layer& layer = model.layer(i);
    std::vector<at::Tensor> inputs = batch.inputs_of(model, i);
    for (at::Tensor& input : inputs) input = lrp::leading_rows(input, active);
    const at::Tensor* indices = &batch.pool_indices[static_cast<size_t>(i)];
    const at::Tensor active_indices = lrp::leading_rows(*indices, active);
    auto down = step_down(layer, signal, inputs, lrp::leading_rows(batch.outputs[static_cast<size_t>(i)], active),
                          active_indices, options.guided);
    if (!down) return down.status().with_context("layer '" + layer.name + "'");
    for (size_t k = 0; k < layer.inputs.size(); ++k) {
      const int from = layer.inputs[k];
      at::Tensor& target = from == lrp::kModelInput ? at_input : signal_at[static_cast<size_t>(from)];
      target = lrp::add_leading_rows(target, down.value()[k]);
    }
    signal_at[static_cast<size_t>(i)] = at::Tensor();  // free memory as we go down
  }
  if (!at_input.defined()) return Status::error("layer '" + targets[order[begin]].layer + "' is not connected to the model input");
  at_input = lrp::pad_rows(at_input, rows);
  return at_input;
}

}  // namespace

Result<at::Tensor> deconvolve_each(const lrp::Model& model, const lrp::Activations& activations, int64_t sample,
                                   const std::vector<DeconvTarget>& targets, const DeconvOptions& options) {
  if (targets.empty()) return Status::error("no neuron to reconstruct");
  const int64_t batch = activations.input.size(0);
  if (sample < 0 || sample >= batch)
    return Status::error("sample " + std::to_string(sample) + " is outside the batch of " + std::to_string(batch));
  at::NoGradGuard no_grad;
  // Highest chosen layer first (stable: equal layers keep their order); unknown layers sort last
  // and are reported by deconvolve_rows.
  std::vector<size_t> order(targets.size());
  for (size_t k = 0; k < order.size(); ++k) order[k] = k;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return model.find(targets[a].layer) > model.find(targets[b].layer); });
  const auto per_batch = static_cast<size_t>(activations.rows_per_batch());
  std::vector<at::Tensor> parts;
  for (size_t begin = 0; begin < targets.size(); begin += per_batch) {
    auto part = deconvolve_rows(model, activations, sample, targets, order, begin,
                                std::min(targets.size(), begin + per_batch), options);
    if (!part) return part.status();
    parts.push_back(part.value());
  }
  const at::Tensor sorted = parts.size() == 1 ? parts[0] : at::cat(parts, 0);
  // Back to the order of `targets`.
  std::vector<int64_t> position(targets.size());
  for (size_t k = 0; k < order.size(); ++k) position[order[k]] = static_cast<int64_t>(k);
  return sorted.index_select(0, at::tensor(position, at::TensorOptions().dtype(at::kLong)));
}

Result<cv::Mat> reconstruction_to_image(const at::Tensor& reconstruction) {
  if (reconstruction.dim() != 3 || (reconstruction.size(0) != 1 && reconstruction.size(0) != 3))
    return Status::error("a reconstruction to draw must be 1 x H x W or 3 x H x W");
  const at::Tensor r = reconstruction.to(at::kFloat).contiguous();
  if (!at::isfinite(r).all().item<bool>()) return Status::error("the reconstruction holds NaN or Inf values");
  const double bound = r.abs().max().item<double>();
  const at::Tensor unit = bound > 0 ? (r / (2.0 * bound) + 0.5) : at::full_like(r, 0.5);
  const at::Tensor bytes = (unit * 255.0).round().clamp(0, 255).to(at::kByte).permute({1, 2, 0}).contiguous();
  const int rows = static_cast<int>(bytes.size(0));
  const int cols = static_cast<int>(bytes.size(1));
  const int channels = static_cast<int>(bytes.size(2));
  cv::Mat image(rows, cols, channels == 3 ? CV_8UC3 : CV_8UC1, const_cast<std::uint8_t*>(bytes.data_ptr<std::uint8_t>()));
  cv::Mat out = image.clone();
  if (channels == 3) cv::cvtColor(out, out, cv::COLOR_RGB2BGR);
  return out;
}

Result<cv::Mat> make_grid(const std::vector<cv::Mat>& images, int columns, int gap) {
  if (images.empty()) return Status::error("no images to tile");
  const cv::Size size = images[0].size();
  const int type = images[0].type();
  for (const auto& image : images)
    if (image.size() != size || image.type() != type) return Status::error("grid images differ in size or type");
  const int n = static_cast<int>(images.size());
  if (columns <= 0) columns = static_cast<int>(std::ceil(std::sqrt(static_cast<double>(n))));
  const int rows = (n + columns - 1) / columns;
  cv::Mat grid(rows * size.height + (rows - 1) * gap, columns * size.width + (columns - 1) * gap, type, cv::Scalar::all(255));
  for (int i = 0; i < n; ++i) {
    const int r = i / columns;
    const int c = i % columns;
    images[i].copyTo(grid(cv::Rect(c * (size.width + gap), r * (size.height + gap), size.width, size.height)));
  }
  return grid;
}

}  // namespace lrpflow::visual
