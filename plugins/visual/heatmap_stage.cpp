// `heatmap`: relevance heatmaps, activation heatmaps and conditional relevance heatmaps per selected neuron.
#include "visual_stages.h"

#include <ATen/ATen.h>

#include <any>

#include <fmt/format.h>

#include "lrpflow/files.h"
#include "lrpflow/lrp/slots.h"
#include "lrpflow/selection/selection.h"
#include "lrpflow/npy.h"
#include "lrpflow/selection/neurons.h"

namespace lrpflow::stages {

Status HeatmapStage::open(const StageContext& ctx) {
  files_ = ctx.item_files();
  slot_ = ctx.options.get_string("slot");
  auto reduction = visual::parse_channel_reduction(ctx.options.get_string("reduction"));
  if (!reduction) return reduction.status().with_context("option reduction");
  reduction_ = reduction.value();
  normalise_.symmetric = ctx.options.get_bool("symmetric");
  normalise_.clip_percentile = ctx.options.get_float("clip_percentile");
  if (!(normalise_.clip_percentile > 0 && normalise_.clip_percentile <= 100))
    return Status::error("option clip_percentile: must be in (0, 100]");
  auto lut = visual::colormap(ctx.options.get_string("cmap"));
  if (!lut) return lut.status().with_context("option cmap");
  lut_ = lut.value();
  auto activation_lut = visual::colormap(ctx.options.get_string("activation_cmap"));
  if (!activation_lut) return activation_lut.status().with_context("option activation_cmap");
  activation_lut_ = activation_lut.value();
  overlay_alpha_ = ctx.options.get_float("overlay_alpha");
  if (!(overlay_alpha_ >= 0 && overlay_alpha_ <= 1)) return Status::error("option overlay_alpha: must be in [0, 1]");
  write_npy_ = ctx.options.get_bool("write_npy");
  write_model_input_ = ctx.options.get_bool("write_model_input");
  activations_ = ctx.options.get_bool("activations");
  neurons_ = ctx.options.get_bool("neurons");
  max_neurons_ = ctx.options.get_int("max_neurons");
  min_size_ = static_cast<int>(ctx.options.get_int("min_size"));
  if (activations_ || neurons_) {
    auto model = ctx.resources->get<lrp::Model>(ctx.options.get_string("model"));
    if (!model) return model.status();
    model_ = model.value();
  }
  if (neurons_) {
    auto rules = ctx.resources->get<lrp::RuleSet>(ctx.options.get_string("rules"));
    if (!rules) return rules.status();
    engine_ = std::make_shared<const lrp::Engine>(rules.value());
  }
  return Status::ok();
}

namespace {

// How the item's maps lie over its image: the loader's record, or (no record) stretched over it.
ImageGeometry geometry_of(const Item& item, const cv::Mat& map, const cv::Mat& image) {
  if (auto slot = item.get<std::any>(kImageGeometrySlot))
    if (const auto* geometry = std::any_cast<ImageGeometry>(slot.value())) return *geometry;
  return visual::whole_image_geometry(map.size(), image.size());
}

}  // namespace

Result<std::string> HeatmapStage::draw(const Item& item, const at::Tensor& map2d, const std::string& name,
                                       bool activation) const {
  visual::NormaliseOptions normalise = normalise_;
  if (activation) normalise.symmetric = false;  // activations after ReLU are non-negative: use the full range
  auto unit = visual::normalise_map(map2d, normalise);
  if (!unit) return unit.status().with_context(name);
  const visual::ColorLut& lut = activation ? activation_lut_ : lut_;
  cv::Mat heat = visual::apply_colormap(unit.value(), lut);
  const auto image = item.get<cv::Mat>("image");
  if (image && !image.value()->empty()) {
    // In the original image's frame, where the model looked; outside it the colour of "nothing"
    // (zero relevance, or the low end of a one-sided map).
    const ImageGeometry geometry = geometry_of(item, heat, *image.value());
    const visual::Rgb& none = lut[normalise.symmetric ? 128 : 0];
    if (name == "heatmap" && overlay_alpha_ > 0) {
      auto blended = visual::overlay_seen_region(heat, *image.value(), geometry, overlay_alpha_);
      if (!blended) return blended.status().with_context(name);
      auto overlay_path = files_.absolute(files_.relative(item.id(), "." + name + ".overlay.png"));
      if (!overlay_path) return overlay_path.status();
      LRPFLOW_RETURN_IF_ERROR(write_png_atomic(overlay_path.value(), blended.value()));
    }
    // Activation heatmaps are drawn over the image themselves (overlay_alpha > 0).
    auto framed = activation && overlay_alpha_ > 0
                      ? visual::overlay_seen_region(heat, *image.value(), geometry, overlay_alpha_)
                      : visual::to_original_frame(heat, geometry, cv::Scalar(none.b, none.g, none.r));
    if (!framed) return framed.status().with_context(name);
    heat = framed.value();
  } else {
    heat = upscale_for_viewing(heat, min_size_);
  }
  const std::string file = files_.relative(item.id(), "." + name + ".png");
  auto path = files_.absolute(file);
  if (!path) return path.status();
  LRPFLOW_RETURN_IF_ERROR(write_png_atomic(path.value(), heat));
  return file;
}

Status HeatmapStage::process(Item& item) {
  auto relevance = item.tensor(slot_);
  if (!relevance) return relevance.status();
  at::Tensor r = relevance.value();
  if (r.dim() == 4 && r.size(0) > 1) r = r[0];  // a batch item: the first sample's map
  auto map = visual::reduce_channels(r, reduction_);
  if (!map) return map.status().with_context("slot '" + slot_ + "'");
  auto file = draw(item, map.value(), "heatmap", false);
  if (!file) return file.status();
  item.add_output("heatmap", file.value());
  if (overlay_alpha_ > 0 && item.has("image")) item.add_output("heatmap_overlay", files_.relative(item.id(), ".heatmap.overlay.png"));
  if (write_model_input_) {
    // What the maps' pixels refer to: the input after resizing and cropping.
    if (auto view = item.get<cv::Mat>(kModelViewSlot); view && !view.value()->empty()) {
      const std::string view_file = files_.relative(item.id(), ".model_input.png");
      auto view_path = files_.absolute(view_file);
      if (!view_path) return view_path.status();
      LRPFLOW_RETURN_IF_ERROR(write_png_atomic(view_path.value(), *view.value()));
      item.add_output("model_input", view_file);
    }
  }
  if (write_npy_) {
    const std::string npy_file = files_.relative(item.id(), ".heatmap.npy");
    auto npy_path = files_.absolute(npy_file);
    if (!npy_path) return npy_path.status();
    LRPFLOW_RETURN_IF_ERROR(write_npy(npy_path.value(), map.value()));
    item.add_output("heatmap_npy", npy_file);
  }
  if (activations_) LRPFLOW_RETURN_IF_ERROR(activation_heatmaps(item));
  if (neurons_) LRPFLOW_RETURN_IF_ERROR(neuron_heatmaps(item));
  return Status::ok();
}

Status HeatmapStage::activation_heatmaps(Item& item) const {
  auto acts = lrp::get_activations(item);
  if (!acts) return acts.status();
  auto chosen = item.get<Selection>("selection");
  if (!chosen) return chosen.status();
  for (const LayerSelection& layer : chosen.value()->layers) {
    const int index = model_->find(layer.layer);
    if (index < 0) return Status::error("layer '" + layer.layer + "' is not in the model");
    const at::Tensor& feature = acts.value()->outputs[static_cast<size_t>(selection::feature_map_layer(*model_, index))];
    if (feature.dim() != 4) continue;  // a Linear layer has no spatial extent: nothing to draw
    const std::int64_t count = std::min<std::int64_t>(max_neurons_, static_cast<std::int64_t>(layer.neurons.size()));
    for (std::int64_t i = 0; i < count; ++i) {
      const std::int64_t neuron = layer.neurons[static_cast<size_t>(i)];
      // Upsampled bilinearly to the input's size before colouring.
      const at::Tensor upsampled = visual::upsample_bilinear(feature[0][neuron], acts.value()->input.size(2), acts.value()->input.size(3));
      auto file = draw(item, upsampled, fmt::format("act.{}.{}", safe_name_component(layer.layer), neuron), true);
      if (!file) return file.status();
      item.add_output("activation_heatmap", file.value());
    }
  }
  return Status::ok();
}

Status HeatmapStage::neuron_heatmaps(Item& item) const {
  auto inputs = get_selection_inputs(item);
  if (!inputs) return inputs.status();
  const lrp::Explanation& full = *inputs.value().explanation;
  at::NoGradGuard no_grad;
  // Every chosen neuron's relevance alone, from its layer down (the layers above are not run
  // again), all in one batched pass: row c is condition c's map.
  std::vector<lrp::NeuronCondition> conditions;
  for (const LayerSelection& layer : inputs.value().selection->layers) {
    const std::int64_t count = std::min<std::int64_t>(max_neurons_, static_cast<std::int64_t>(layer.neurons.size()));
    for (std::int64_t i = 0; i < count; ++i) conditions.push_back({layer.layer, layer.neurons[static_cast<size_t>(i)]});
  }
  if (conditions.empty()) return Status::ok();
  auto conditional = lrp::propagate_conditions(*engine_, *inputs.value().activations, full, 0, conditions);
  if (!conditional) return conditional.status();
  for (size_t c = 0; c < conditions.size(); ++c) {
    auto map = visual::reduce_channels(conditional.value().input_relevance[static_cast<std::int64_t>(c)], reduction_);
    if (!map) return map.status();
    auto file = draw(item, map.value(), fmt::format("neuron.{}.{}", safe_name_component(conditions[c].layer), conditions[c].neuron), false);
    if (!file) return file.status();
    item.add_output("neuron_heatmap", file.value());
  }
  return Status::ok();
}

}  // namespace lrpflow::stages
