// `pixel_flipping`: region perturbation (Samek et al. 2017) to measure how faithful an attribution is.
//
// Per sample: the relevance is summed over channels and over `patch` x `patch` regions; regions are
// ranked most relevant first (morf), least relevant first (lerf) or in a seeded random order
// (random). Step k (k = 1..K, K = `steps`) replaces the first k * `patches_per_step` regions of the
// ranking with the fill (zero, the image's per-channel mean, or a Gaussian-blurred copy). The model
// scores all K perturbed copies of every ordering plus the original in ONE forward pass; the score
// is the target class's softmax probability (or its logit).
//
//   AOPC = (1 / K) * sum_{k=1..K} (s_0 - s_k)     s_0: score of the unperturbed input
//
// A faithful attribution gives a large morf AOPC (the score falls fast) and a small lerf AOPC.
// Per item: metrics aopc/<ordering> (suffixed /b for batches of several samples), the curve CSV
// <id>.perturbation.csv and plot <id>.perturbation.png. At close(): perturbation_mean.csv/.png (mean
// curves) and faithfulness.json (mean AOPC per ordering), with the shard suffix in a split run.
//
// Reentrant: process() only reads what open() set up. The run-level means are computed at close()
// from every ok item's perturbation.csv (also the items of an earlier session, after --resume).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "lrpflow/lrp/targets.h"
#include "lrpflow/lrp/graph.h"
#include "lrpflow/stage.h"

namespace lrpflow::eval {

enum class Ordering { Morf, Lerf, Random };
enum class Fill { Zero, Mean, Blur };

class PixelFlippingStage : public Stage {
 public:
  Status open(const StageContext& ctx) override;
  Status process(Item& item) override;
  Status close(const CloseContext& ctx) override;

 private:
  // Scores s_0..s_K per ordering for one sample x [C, H, W] with relevance r [C, H, W].
  Result<std::vector<std::vector<double>>> curves_for(const at::Tensor& x, const at::Tensor& r, std::int64_t target,
                                                      std::uint64_t random_seed) const;
  at::Tensor fill_for(const at::Tensor& x) const;

  std::shared_ptr<const lrp::Model> model_;
  std::string input_slot_;
  std::string relevance_slot_;
  lrp::TargetSpec target_;
  std::int64_t patch_ = 2;
  std::int64_t patches_per_step_ = 1;
  std::int64_t steps_ = 16;
  Fill fill_ = Fill::Zero;
  double sigma_ = 1.0;
  bool on_probability_ = true;
  std::vector<Ordering> orderings_;
  std::vector<std::string> ordering_names_;
  std::int64_t seed_ = 0;
  bool plot_ = true;
  ItemFiles files_;
  std::string stage_id_;

};

}  // namespace lrpflow::eval
