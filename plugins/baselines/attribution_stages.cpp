#include "attribution_stages.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include "lrpflow/lrp/engine.h"
#include "lrpflow/shape.h"

namespace lrpflow::eval {

Status AttributionStage::open(const StageContext& ctx) {
  auto model = ctx.resources->get<lrp::Model>(ctx.options.get_string("model"));
  if (!model) return model.status().with_context("option model");
  model_ = model.value();
  input_slot_ = ctx.options.get_string("input");
  output_slot_ = ctx.options.get_string("output");
  auto target = lrp::parse_single_target(ctx.options.get_string("target"));
  if (!target) return target.status();
  target_ = target.value();
  return configure(ctx);
}

Status AttributionStage::process(Item& item) {
  auto input = item.tensor(input_slot_);
  if (!input) return input.status();
  const at::Tensor x = input.value().to(at::kFloat);
  if (x.dim() < 2) return Status::error("input slot '" + input_slot_ + "' holds a tensor of shape " + shape_string(x.sizes()) +
                                        "; expected a batch [N, ...]");
  auto scored = lrp::score_and_resolve(*model_, x, target_, item);
  if (!scored) return scored.status();
  const at::Tensor& logits = scored.value().logits;
  const std::vector<std::int64_t>& targets = scored.value().targets;
  auto attribution = attribute(x, targets, logits.size(1), item);
  if (!attribution) return attribution.status();
  const at::Tensor result = attribution.value().detach().contiguous();
  if (result.sizes() != x.sizes())
    return Status::error("internal: attribution of shape " + shape_string(result.sizes()) + " for an input of shape " + shape_string(x.sizes()));
  if (!at::isfinite(result).all().item<bool>()) return Status::error("the attribution holds NaN or Inf values");
  item.set(output_slot_, result);
  item.set("target", at::tensor(targets, at::kLong));
  return Status::ok();
}

Result<at::Tensor> AttributionStage::gradient_at(const at::Tensor& points,
                                                 const std::vector<std::int64_t>& target_of_row,
                                                 std::int64_t classes) const {
  // d(sum_m logit_{target_m}(points_m)) / d points: one backward pass for the whole batch.
  at::Tensor start = at::zeros({points.size(0), classes}, points.options());
  for (size_t m = 0; m < target_of_row.size(); ++m) start[static_cast<std::int64_t>(m)][target_of_row[m]] = 1.0;
  auto grad = lrp::gradient(*model_, points, start);
  if (!grad) return grad.status();
  return grad.value().input_gradient;
}

Result<at::Tensor> GradientStage::attribute(const at::Tensor& input, const std::vector<std::int64_t>& targets,
    std::int64_t classes, const Item&) const {
  return gradient_at(input, targets, classes);
}

Result<at::Tensor> GradientTimesInputStage::attribute(const at::Tensor& input, const std::vector<std::int64_t>& targets,
    std::int64_t classes, const Item&) const {
  auto grad = gradient_at(input, targets, classes);
  if (!grad) return grad.status();
  return grad.value() * input;
}

Status IntegratedGradientsStage::configure(const StageContext& ctx) {
  steps_ = ctx.options.get_int("steps");
  if (steps_ < 1) return Status::error("option steps: " + std::to_string(steps_) + " is not a positive number of intervals");
  chunk_ = ctx.options.get_int("batch");
  if (chunk_ < 1) return Status::error("option batch: " + std::to_string(chunk_) + " is not a positive batch size");
  return Status::ok();
}

Result<at::Tensor> IntegratedGradientsStage::attribute(const at::Tensor& input, const std::vector<std::int64_t>& targets,
    std::int64_t classes, const Item&) const {
  // Trapezoid rule on the straight path from the zero baseline: points a_k = k / steps, k = 0..steps,
  // weights 1/steps inside and 1/(2 steps) at both ends.
  const at::Tensor alphas = at::linspace(0.0, 1.0, steps_ + 1, input.options());
  at::Tensor weights = at::full({steps_ + 1}, 1.0 / static_cast<double>(steps_), input.options());
  weights[0] = 0.5 / static_cast<double>(steps_);
  weights[steps_] = 0.5 / static_cast<double>(steps_);
  std::vector<at::Tensor> per_sample;
  for (std::int64_t b = 0; b < input.size(0); ++b) {
    const at::Tensor x = input[b];
    at::Tensor average = at::zeros_like(x);
    for (std::int64_t first = 0; first <= steps_; first += chunk_) {
      const std::int64_t count = std::min(chunk_, steps_ + 1 - first);
      std::vector<std::int64_t> shape{count};
      for (std::int64_t d = 0; d < x.dim(); ++d) shape.push_back(1);
      const at::Tensor a = alphas.narrow(0, first, count).view(shape);
      auto grad = gradient_at(a * x.unsqueeze(0), std::vector<std::int64_t>(static_cast<size_t>(count), targets[b]), classes);
      if (!grad) return grad.status();
      average += (grad.value() * weights.narrow(0, first, count).view(shape)).sum(0);
    }
    per_sample.push_back(x * average);
  }
  return at::stack(per_sample);
}

Status SmoothGradStage::configure(const StageContext& ctx) {
  samples_ = ctx.options.get_int("samples");
  if (samples_ < 1) return Status::error("option samples: " + std::to_string(samples_) + " is not a positive count");
  noise_ = ctx.options.get_float("noise");
  if (!(noise_ >= 0)) return Status::error("option noise: the noise level must be >= 0");
  seed_ = ctx.options.get_int("seed");
  chunk_ = ctx.options.get_int("batch");
  if (chunk_ < 1) return Status::error("option batch: " + std::to_string(chunk_) + " is not a positive batch size");
  return Status::ok();
}

Result<at::Tensor> SmoothGradStage::attribute(const at::Tensor& input, const std::vector<std::int64_t>& targets,
    std::int64_t classes, const Item& item) const {
  at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(static_cast<std::uint64_t>(seed_ + item.index()));
  std::vector<at::Tensor> per_sample;
  for (std::int64_t b = 0; b < input.size(0); ++b) {
    const at::Tensor x = input[b];
    const double sigma = noise_ * (x.max() - x.min()).item<double>();
    at::Tensor sum = at::zeros_like(x);
    for (std::int64_t first = 0; first < samples_; first += chunk_) {
      const std::int64_t count = std::min(chunk_, samples_ - first);
      std::vector<std::int64_t> shape{count};
      for (std::int64_t d = 0; d < x.dim(); ++d) shape.push_back(x.size(d));
      const at::Tensor noisy = x.unsqueeze(0) + sigma * at::randn(shape, generator, x.options());
      auto grad = gradient_at(noisy, std::vector<std::int64_t>(static_cast<size_t>(count), targets[b]), classes);
      if (!grad) return grad.status();
      sum += grad.value().sum(0);
    }
    per_sample.push_back(sum / static_cast<double>(samples_));
  }
  return at::stack(per_sample);
}

Status GradCamStage::configure(const StageContext& ctx) {
  const lrp::Model& model = *model_;
  const std::string name = ctx.options.get_string("layer");
  if (name.empty()) {
    for (int i = model.size() - 1; i >= 0 && layer_ < 0; --i)
      if (model.layer(i).kind == lrp::LayerKind::Conv2d) layer_ = i;
    if (layer_ < 0) return Status::error("option layer: the model has no Conv2d layer; name the layer to use");
    // Grad-CAM works on the rectified feature maps: the graph keeps a conv's pre-activation output,
    // so take its ReLU when that is the only reader.
    const auto& readers = model.consumers()[static_cast<size_t>(layer_)];
    if (readers.size() == 1 && model.layer(readers[0]).kind == lrp::LayerKind::ReLU) layer_ = readers[0];
  } else {
    layer_ = model.find(name);
    if (layer_ < 0) {
      std::string names;
      for (const lrp::Layer& l : model.layers()) names += (names.empty() ? "" : ", ") + l.name;
      return Status::error("option layer: '" + name + "' is not a layer of the model (its layers: " + names + ")");
    }
  }
  for (int reader : model.consumers()[static_cast<size_t>(layer_)]) {
    const lrp::Layer& r = model.layer(reader);
    readers_.push_back(r.name);
    for (size_t k = 0; k < r.inputs.size(); ++k)
      if (r.inputs[k] == layer_) gradient_keys_.push_back(r.inputs.size() == 1 ? r.name : r.name + ":" + std::to_string(k));
  }
  if (readers_.empty())
    return Status::error("option layer: '" + model.layer(layer_).name + "' is the model output; choose a feature layer");
  return Status::ok();
}

Result<at::Tensor> GradCamStage::attribute(const at::Tensor& input, const std::vector<std::int64_t>& targets,
    std::int64_t classes, const Item&) const {
  if (input.dim() != 4) return Status::error("gradcam needs an image batch [N, C, H, W], got " + shape_string(input.sizes()));
  const std::string& layer_name = model_->layer(layer_).name;
  at::Tensor features;
  {
    at::NoGradGuard no_grad;
    auto forward = model_->forward(input, std::vector<std::string>{layer_name});
    if (!forward) return forward.status();
    features = forward.value().outputs[static_cast<size_t>(layer_)];
  }
  at::Tensor start = at::zeros({input.size(0), classes}, input.options());
  for (size_t b = 0; b < targets.size(); ++b) start[static_cast<std::int64_t>(b)][targets[b]] = 1.0;
  if (features.dim() != 4)
    return Status::error("gradcam: layer '" + layer_name + "' gives " + shape_string(features.sizes()) +
                         ", not feature maps [N, K, h, w]");
  auto grad = lrp::gradient(*model_, input, start, readers_);
  if (!grad) return grad.status();
  at::Tensor d_features = at::zeros_like(features);
  for (const std::string& key : gradient_keys_) {
    auto it = grad.value().layer_input_gradient.find(key);
    if (it == grad.value().layer_input_gradient.end() || !it->second.defined()) continue;  // unused input: zero
    d_features += it->second;
  }
  const at::Tensor alpha = d_features.mean({2, 3}, /*keepdim=*/true);
  const at::Tensor cam = at::relu((alpha * features).sum(1, /*keepdim=*/true));
  const at::Tensor upsampled =
      at::upsample_bilinear2d(cam, {input.size(2), input.size(3)}, /*align_corners=*/false);
  return upsampled.expand({input.size(0), input.size(1), input.size(2), input.size(3)}).contiguous();
}

}  // namespace lrpflow::eval
