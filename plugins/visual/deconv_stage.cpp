// `deconv`: Zeiler-Fergus reconstructions (or guided backprop) of the top selected neurons.
#include "visual_stages.h"

#include <ATen/ATen.h>

#include <fmt/format.h>

#include "lrpflow/files.h"
#include "lrpflow/lrp/slots.h"
#include "lrpflow/selection/selection.h"

namespace lrpflow::stages {

Status DeconvStage::open(const StageContext& ctx) {
  files_ = ctx.item_files();
  auto model = ctx.resources->get<lrp::Model>(ctx.options.get_string("model"));
  if (!model) return model.status();
  model_ = model.value();
  const std::string method = ctx.options.get_string("method");
  if (method != "deconvnet" && method != "guided") return Status::error("option method: '" + method + "' is not deconvnet or guided");
  options_.guided = method == "guided";
  const std::string keep = ctx.options.get_string("keep");
  if (keep != "channel" && keep != "strongest") return Status::error("option keep: '" + keep + "' is not channel or strongest");
  options_.strongest_position_only = keep == "strongest";
  top_k_ = ctx.options.get_int("top_k");
  sample_ = ctx.options.get_int("sample");
  min_size_ = static_cast<int>(ctx.options.get_int("min_size"));
  return Status::ok();
}

Status DeconvStage::process(Item& item) {
  auto acts = lrp::get_activations(item);
  if (!acts) return acts.status();
  auto chosen = item.get<Selection>("selection");
  if (!chosen) return chosen.status();
  // All top neurons of all layers in one batched walk down.
  std::vector<visual::DeconvTarget> targets;
  for (const LayerSelection& layer : chosen.value()->layers) {
    const std::int64_t count = std::min<std::int64_t>(top_k_, static_cast<std::int64_t>(layer.neurons.size()));
    for (std::int64_t i = 0; i < count; ++i) targets.push_back({layer.layer, layer.neurons[static_cast<size_t>(i)]});
  }
  std::vector<cv::Mat> tiles;
  if (targets.empty()) return Status::ok();
  auto reconstructions = visual::deconvolve_each(*model_, *acts.value(), sample_, targets, options_);
  if (!reconstructions) return reconstructions.status();
  for (size_t k = 0; k < targets.size(); ++k) {
    const visual::DeconvTarget& target = targets[k];
    auto image = visual::reconstruction_to_image(reconstructions.value()[static_cast<std::int64_t>(k)]);
    if (!image) return image.status().with_context(fmt::format("layer '{}' neuron {}", target.layer, target.neuron));
    const cv::Mat shown = upscale_for_viewing(image.value(), min_size_);
    const std::string file = files_.relative(item.id(), fmt::format(".deconv.{}.{}.png", safe_name_component(target.layer), target.neuron));
    auto path = files_.absolute(file);
    if (!path) return path.status();
    LRPFLOW_RETURN_IF_ERROR(write_png_atomic(path.value(), shown));
    item.add_output("deconv", file);
    tiles.push_back(shown);
  }
  if (!tiles.empty()) {
    auto grid = visual::make_grid(tiles, static_cast<int>(top_k_), 2);
    if (!grid) return grid.status();
    const std::string file = files_.relative(item.id(), ".deconv.grid.png");
    auto path = files_.absolute(file);
    if (!path) return path.status();
    LRPFLOW_RETURN_IF_ERROR(write_png_atomic(path.value(), grid.value()));
    item.add_output("deconv_grid", file);
  }
  return Status::ok();
}

}  // namespace lrpflow::stages
