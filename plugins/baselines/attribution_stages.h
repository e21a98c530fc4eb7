// Stages of the `baselines` plugin: attribution methods to compare LRP against.
//
//   gradient              d logit_t / d input
//   gradient_x_input      input * gradient
//   integrated_gradients  (x - 0) * integral_0^1 gradient(a x) da, trapezoid rule on `steps` intervals
//   smoothgrad            mean gradient over `samples` noisy copies (Gaussian, std = noise * (max - min) of x)
//   gradcam               ReLU(sum_k alpha_k A_k) at one conv layer, alpha_k = spatial mean of dy_t/dA_k,
//                         bilinearly upsampled to the input size and repeated over the input channels
//
// Every stage reads the input tensor [N, C, H, W] (slot `input`), explains one class per sample
// (`target`: argmax | INDEX | slot:NAME) and writes a tensor of the input's shape (slot `output`,
// default `relevance`) plus the explained classes (slot `target`), so the heatmap, writer and
// faithfulness stages take them like LRP relevance.
//
// Lifecycle: open() reads the options and the model resource; process() computes the attribution
// with plain autograd gradients (lrp::gradient). All stages are reentrant: the model is immutable and
// each call owns its tensors; smoothgrad's noise is seeded per item (seed + item index), so results do
// not depend on the order items arrive in.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "lrpflow/lrp/targets.h"
#include "lrpflow/lrp/graph.h"
#include "lrpflow/stage.h"

namespace lrpflow::eval {

class AttributionStage : public Stage {
 public:
  Status open(const StageContext& ctx) override;
  Status process(Item& item) override;

 protected:
  // Method-specific options, after the common ones are read.
  virtual Status configure(const StageContext& ctx) { (void)ctx; return Status::ok(); }
  virtual Result<at::Tensor> attribute(const at::Tensor& input, const std::vector<std::int64_t>& targets,
                                       std::int64_t classes, const Item& item) const = 0;
  // Gradient of the target logits w.r.t. `points` [M, ...], each row explaining `target_of_row[m]`.
  Result<at::Tensor> gradient_at(const at::Tensor& points, const std::vector<std::int64_t>& target_of_row,
                                 std::int64_t classes) const;

  std::shared_ptr<const lrp::Model> model_;

 private:
  std::string input_slot_;
  std::string output_slot_;
  lrp::TargetSpec target_;
};

class GradientStage : public AttributionStage {
 protected:
  Result<at::Tensor> attribute(const at::Tensor& input, const std::vector<std::int64_t>& targets,
                               std::int64_t classes, const Item& item) const override;
};

class GradientTimesInputStage : public AttributionStage {
 protected:
  Result<at::Tensor> attribute(const at::Tensor& input, const std::vector<std::int64_t>& targets,
                               std::int64_t classes, const Item& item) const override;
};

class IntegratedGradientsStage : public AttributionStage {
 protected:
  Status configure(const StageContext& ctx) override;
  Result<at::Tensor> attribute(const at::Tensor& input, const std::vector<std::int64_t>& targets,
                               std::int64_t classes, const Item& item) const override;

 private:
  std::int64_t steps_ = 32;
  std::int64_t chunk_ = 32;
};

class SmoothGradStage : public AttributionStage {
 protected:
  Status configure(const StageContext& ctx) override;
  Result<at::Tensor> attribute(const at::Tensor& input, const std::vector<std::int64_t>& targets,
                               std::int64_t classes, const Item& item) const override;

 private:
  std::int64_t samples_ = 32;
  double noise_ = 0.1;
  std::int64_t seed_ = 0;
  std::int64_t chunk_ = 32;
};

class GradCamStage : public AttributionStage {
 protected:
  Status configure(const StageContext& ctx) override;
  Result<at::Tensor> attribute(const at::Tensor& input, const std::vector<std::int64_t>& targets,
                               std::int64_t classes, const Item& item) const override;

 private:
  int layer_ = -1;                     // index of the layer whose output is A
  std::vector<std::string> readers_;       // layers reading A (their input gradient is dy/dA)
  std::vector<std::string> gradient_keys_; // lrp::gradient's keys for those inputs ("name" or "name:k")
};

}  // namespace lrpflow::eval
