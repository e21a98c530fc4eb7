// Stages of the built-in `visual` plugin: heatmaps (relevance, activation, conditional relevance per
// neuron) and deconvolution images. Both are reentrant: they only read the item and immutable
// resources, and write files whose names derive from the item id.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "lrpflow/lrp/engine.h"
#include "lrpflow/stage.h"
#include "lrpflow/visual/colormap.h"
#include "lrpflow/visual/deconv.h"
#include "lrpflow/visual/heatmap.h"
#include "lrpflow/image/png.h"

namespace lrpflow::stages {

class HeatmapStage : public Stage {
 public:
  Status open(const StageContext& ctx) override;
  Status process(Item& item) override;

 private:
  // Colours an H x W map (at the model input's resolution), draws it where the model looked in the
  // original image (ImageGeometry) and writes the PNG (and, with overlay_alpha > 0 and an image,
  // the overlay). Returns the file name written.
  Result<std::string> draw(const Item& item, const at::Tensor& map, const std::string& name, bool activation) const;
  Status activation_heatmaps(Item& item) const;
  Status neuron_heatmaps(Item& item) const;

  ItemFiles files_;
  std::string slot_;
  visual::ChannelReduction reduction_ = visual::ChannelReduction::Sum;
  visual::NormaliseOptions normalise_;
  visual::ColorLut lut_{};
  visual::ColorLut activation_lut_{};
  double overlay_alpha_ = 0.5;
  bool write_npy_ = true;
  bool write_model_input_ = true;
  bool activations_ = false;
  bool neurons_ = false;
  std::int64_t max_neurons_ = 4;
  std::shared_ptr<const lrp::Engine> engine_;  // for conditional relevance (neurons: true)
  int min_size_ = 0;  // upscale maps not drawn over an image to at least this many pixels (0: keep)
  std::shared_ptr<const lrp::Model> model_;
};

class DeconvStage : public Stage {
 public:
  Status open(const StageContext& ctx) override;
  Status process(Item& item) override;

 private:
  ItemFiles files_;
  std::shared_ptr<const lrp::Model> model_;
  visual::DeconvOptions options_;
  std::int64_t top_k_ = 4;
  std::int64_t sample_ = 0;
  int min_size_ = 0;  // upscale small reconstructions to at least this many pixels (0: keep)
};

}  // namespace lrpflow::stages
