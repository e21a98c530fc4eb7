#include "pixel_flipping.h"

#include "lrpflow/shape.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "curve_plot.h"
#include "lrpflow/csv.h"
#include "lrpflow/files.h"
#include "lrpflow/log.h"
#include "lrpflow/recorded_csv.h"
#include "lrpflow/image/png.h"

namespace lrpflow::eval {

namespace {

// Separable Gaussian blur of x [C, H, W], edges replicated.
at::Tensor gaussian_blur(const at::Tensor& x, double sigma) {
  const std::int64_t radius = std::max<std::int64_t>(1, static_cast<std::int64_t>(std::ceil(3 * sigma)));
  at::Tensor taps = at::arange(-radius, radius + 1, x.options()).pow(2).div(-2 * sigma * sigma).exp();
  taps = taps / taps.sum();
  const std::int64_t channels = x.size(0);
  const std::vector<std::int64_t> unit{1, 1}, no_padding{0, 0};
  const at::Tensor padded = at::replication_pad2d(x.unsqueeze(0), {radius, radius, radius, radius});
  at::Tensor rows = at::conv2d(padded, taps.view({1, 1, 1, -1}).repeat({channels, 1, 1, 1}), at::Tensor(), unit, no_padding, unit, channels);
  at::Tensor both = at::conv2d(rows, taps.view({1, 1, -1, 1}).repeat({channels, 1, 1, 1}), at::Tensor(), unit, no_padding, unit, channels);
  return both.squeeze(0);
}

}  // namespace

Status PixelFlippingStage::open(const StageContext& ctx) {
  stage_id_ = ctx.stage_id;
  auto model = ctx.resources->get<lrp::Model>(ctx.options.get_string("model"));
  if (!model) return model.status().with_context("option model");
  model_ = model.value();
  input_slot_ = ctx.options.get_string("input");
  relevance_slot_ = ctx.options.get_string("relevance");
  auto target = lrp::parse_single_target(ctx.options.get_string("target"));
  if (!target) return target.status();
  target_ = target.value();
  patch_ = ctx.options.get_int("patch");
  if (patch_ < 1) return Status::error("option patch: " + std::to_string(patch_) + " is not a positive region size");
  patches_per_step_ = ctx.options.get_int("patches_per_step");
  steps_ = ctx.options.get_int("steps");
  const std::string fill = ctx.options.get_string("fill");
  if (fill == "zero") fill_ = Fill::Zero;
  else if (fill == "mean") fill_ = Fill::Mean;
  else if (fill == "blur") fill_ = Fill::Blur;
  else return Status::error("option fill: '" + fill + "' is not zero, mean or blur");
  sigma_ = ctx.options.get_float("sigma");
  if (fill_ == Fill::Blur && !(sigma_ > 0))
    return Status::error("option sigma: fill blur needs a positive sigma (pixels), got " + fmt::format("{:g}", sigma_));
  const std::string score = ctx.options.get_string("score");
  if (score != "probability" && score != "logit")
    return Status::error("option score: '" + score + "' is not probability or logit");
  on_probability_ = score == "probability";
  for (const std::string& name : ctx.options.get_string_list("orderings")) {
    Ordering o;
    if (name == "morf") o = Ordering::Morf;
    else if (name == "lerf") o = Ordering::Lerf;
    else if (name == "random") o = Ordering::Random;
    else return Status::error("option orderings: '" + name + "' is not morf, lerf or random");
    if (std::find(ordering_names_.begin(), ordering_names_.end(), name) != ordering_names_.end())
      return Status::error("option orderings: '" + name + "' is listed twice");
    orderings_.push_back(o);
    ordering_names_.push_back(name);
  }
  if (orderings_.empty()) return Status::error("option orderings: give at least one of morf, lerf, random");
  seed_ = ctx.options.get_int("seed");
  plot_ = ctx.options.get_bool("plot");
  files_ = ctx.item_files();
  return Status::ok();
}

at::Tensor PixelFlippingStage::fill_for(const at::Tensor& x) const {
  switch (fill_) {
    case Fill::Zero: return at::zeros_like(x);
    case Fill::Mean: return x.mean({1, 2}, /*keepdim=*/true).expand_as(x);
    case Fill::Blur: return gaussian_blur(x, sigma_);
  }
  return at::zeros_like(x);
}

Result<std::vector<std::vector<double>>> PixelFlippingStage::curves_for(const at::Tensor& x, const at::Tensor& r,
                                                                        std::int64_t target,
                                                                        std::uint64_t random_seed) const {
  const std::int64_t height = x.size(1), width = x.size(2);
  const std::int64_t rows = (height + patch_ - 1) / patch_, cols = (width + patch_ - 1) / patch_;
  const std::int64_t regions = rows * cols;
  if (steps_ * patches_per_step_ > regions)
    return Status::error(fmt::format("steps ({}) x patches_per_step ({}) = {} regions, but a {}x{} input has only {} "
                                     "regions of {}x{}",
                                     steps_, patches_per_step_, steps_ * patches_per_step_, height, width, regions,
                                     patch_, patch_));
  // Relevance per region: channels summed, the image padded with zero relevance to whole regions.
  at::Tensor per_pixel = r.to(at::kDouble).sum(0);
  per_pixel = at::constant_pad_nd(per_pixel, {0, cols * patch_ - width, 0, rows * patch_ - height}, 0.0);
  const at::Tensor per_region =
      per_pixel.view({rows, patch_, cols, patch_}).sum({1, 3}).reshape({-1}).contiguous();
  const double* score = per_region.data_ptr<double>();

  const std::int64_t k_steps = steps_;
  const auto orderings = static_cast<std::int64_t>(orderings_.size());
  // region_masks[o * K + (k-1)][region] = 1 for the regions perturbed at step k of ordering o.
  at::Tensor region_masks = at::zeros({orderings * k_steps, regions}, at::kFloat);
  auto masks = region_masks.accessor<float, 2>();
  for (std::int64_t o = 0; o < orderings; ++o) {
    std::vector<std::int64_t> order(static_cast<size_t>(regions));
    std::iota(order.begin(), order.end(), 0);
    switch (orderings_[static_cast<size_t>(o)]) {
      case Ordering::Morf:  // ties: the earlier region first, so the ranking is deterministic
        std::stable_sort(order.begin(), order.end(), [&](auto a, auto b) { return score[a] > score[b]; });
        break;
      case Ordering::Lerf:
        std::stable_sort(order.begin(), order.end(), [&](auto a, auto b) { return score[a] < score[b]; });
        break;
      case Ordering::Random: {
        std::mt19937_64 generator(random_seed);
        std::shuffle(order.begin(), order.end(), generator);
        break;
      }
    }
    for (std::int64_t k = 1; k <= k_steps; ++k)
      for (std::int64_t i = 0; i < k * patches_per_step_; ++i) masks[o * k_steps + k - 1][order[static_cast<size_t>(i)]] = 1;
  }
  at::Tensor pixel_masks = region_masks.view({-1, 1, rows, 1, cols, 1})
                               .expand({orderings * k_steps, 1, rows, patch_, cols, patch_})
                               .reshape({orderings * k_steps, 1, rows * patch_, cols * patch_})
                               .narrow(2, 0, height)
                               .narrow(3, 0, width)
                               .to(x.dtype());
  const at::Tensor fill = fill_for(x);
  const at::Tensor perturbed = x.unsqueeze(0) * (1 - pixel_masks) + fill.unsqueeze(0) * pixel_masks;
  const at::Tensor batch = at::cat({x.unsqueeze(0), perturbed});  // the original first: s_0

  at::Tensor logits;
  {
    at::NoGradGuard no_grad;
    auto forward = model_->forward(batch, std::vector<std::string>{});
    if (!forward) return forward.status().with_context("perturbed forward pass");
    logits = forward.value().logits;
  }
  if (target < 0 || target >= logits.size(1))
    return Status::error("target class " + std::to_string(target) + " is out of range");
  at::Tensor scores = on_probability_ ? at::softmax(logits.to(at::kDouble), 1) : logits.to(at::kDouble);
  scores = scores.select(1, target).contiguous();
  const double* s = scores.data_ptr<double>();
  std::vector<std::vector<double>> curves(static_cast<size_t>(orderings));
  for (std::int64_t o = 0; o < orderings; ++o) {
    curves[static_cast<size_t>(o)].push_back(s[0]);
    for (std::int64_t k = 1; k <= k_steps; ++k) curves[static_cast<size_t>(o)].push_back(s[1 + o * k_steps + k - 1]);
  }
  return curves;
}

namespace {

// AOPC = mean over k = 1..K of (s_0 - s_k), for one curve s_0..s_K.
double aopc_of(const std::vector<double>& curve) {
  double sum = 0;
  for (size_t k = 1; k < curve.size(); ++k) sum += curve[0] - curve[k];
  return curve.size() > 1 ? sum / static_cast<double>(curve.size() - 1) : 0.0;
}

}  // namespace

Status PixelFlippingStage::process(Item& item) {
  auto input = item.tensor(input_slot_);
  if (!input) return input.status();
  auto relevance = item.tensor(relevance_slot_);
  if (!relevance) return relevance.status();
  const at::Tensor x = input.value().to(at::kFloat);
  const at::Tensor r = relevance.value();
  if (x.dim() != 4)
    return Status::error("input slot '" + input_slot_ + "' holds " + shape_string(x.sizes()) + "; expected images [N, C, H, W]");
  if (r.sizes() != x.sizes())
    return Status::error("relevance slot '" + relevance_slot_ + "' holds " + shape_string(r.sizes()) +
                         ", not the input's shape " + shape_string(x.sizes()));
  if (!at::isfinite(r).all().item<bool>()) return Status::error("relevance slot '" + relevance_slot_ + "' holds NaN or Inf");

  auto scored = lrp::score_and_resolve(*model_, x, target_, item);
  if (!scored) return scored.status();
  const std::vector<std::int64_t>& targets = scored.value().targets;

  const std::int64_t batch = x.size(0);
  std::vector<std::vector<std::vector<double>>> per_sample;
  for (std::int64_t b = 0; b < batch; ++b) {
    // Seeded per item and sample so the random ranking does not depend on the order items arrive in.
    const std::uint64_t seed = static_cast<std::uint64_t>(seed_) * 1000003u + static_cast<std::uint64_t>(item.index()) * 131u +
                               static_cast<std::uint64_t>(b);
    auto curves = curves_for(x[b], r[b], targets[static_cast<size_t>(b)], seed);
    if (!curves) return curves.status();
    per_sample.push_back(std::move(curves).value());
  }

  std::vector<std::vector<double>> aopc(static_cast<size_t>(batch), std::vector<double>(orderings_.size()));
  for (std::int64_t b = 0; b < batch; ++b)
    for (size_t o = 0; o < orderings_.size(); ++o) {
      aopc[static_cast<size_t>(b)][o] = aopc_of(per_sample[static_cast<size_t>(b)][o]);
      item.set_metric("aopc/" + ordering_names_[o] + (batch == 1 ? "" : "/" + std::to_string(b)), aopc[static_cast<size_t>(b)][o]);
    }

  const std::int64_t regions = ((x.size(2) + patch_ - 1) / patch_) * ((x.size(3) + patch_ - 1) / patch_);
  std::ostringstream csv;
  csv << "sample,step,regions_perturbed,fraction_perturbed";
  for (const std::string& name : ordering_names_) csv << "," << name;
  csv << "\n";
  for (std::int64_t b = 0; b < batch; ++b)
    for (std::int64_t k = 0; k <= steps_; ++k) {
      csv << b << "," << k << "," << k * patches_per_step_ << ","
          << fmt::format("{:.6g}", static_cast<double>(k * patches_per_step_) / static_cast<double>(regions));
      for (size_t o = 0; o < orderings_.size(); ++o)
        csv << "," << fmt::format("{}", per_sample[static_cast<size_t>(b)][o][static_cast<size_t>(k)]);  // read back by close()
      csv << "\n";
    }
  const std::string csv_file = files_.relative(item.id(), ".perturbation.csv");
  auto csv_path = files_.absolute(csv_file);
  if (!csv_path) return csv_path.status();
  LRPFLOW_RETURN_IF_ERROR(write_file_atomic(csv_path.value(), csv.str()));
  item.add_output("perturbation_csv", csv_file);
  if (plot_) {
    std::vector<Curve> lines;
    for (size_t o = 0; o < orderings_.size(); ++o)
      lines.push_back({fmt::format("{} {:.3f}", ordering_names_[o], aopc[0][o]), per_sample[0][o]});
    const std::string plot_file = files_.relative(item.id(), ".perturbation.png");
    auto plot_path = files_.absolute(plot_file);
    if (!plot_path) return plot_path.status();
    LRPFLOW_RETURN_IF_ERROR(write_png_atomic(
        plot_path.value(),
        plot_curves(item.id() + ": score vs. perturbation (legend: AOPC)", on_probability_ ? "probability" : "logit", lines)));
    item.add_output("perturbation_plot", plot_file);
  }
  return Status::ok();
}

Status PixelFlippingStage::close(const CloseContext& ctx) {
  if (ctx.nothing_ran) return Status::ok();
  // The run's means, from every ok item's perturbation.csv in input order (CloseContext::for_each_ok_item).
  std::vector<std::vector<double>> curve_sums(orderings_.size(), std::vector<double>(static_cast<size_t>(steps_ + 1), 0.0));
  std::vector<double> aopc_sums(orderings_.size(), 0.0);
  std::int64_t samples = 0;
  LRPFLOW_RETURN_IF_ERROR(ctx.visit_ok_items([&](const RecordedItem& item) -> Status {
    auto csv = read_recorded_csv(ctx.output_dir, item, "perturbation_csv", ordering_names_);
    if (!csv) return csv.status();
    if (!csv.value()) return Status::ok();
    const RecordedCsv& recorded = *csv.value();
    const std::string& origin = recorded.origin;
    const std::vector<std::size_t>& columns = recorded.columns;
    const std::size_t rows = recorded.table.rows.size();
    const auto per_sample = static_cast<std::size_t>(steps_ + 1);
    if (rows == 0 || rows % per_sample != 0)
      return Status::error(origin + ": " + std::to_string(rows) + " rows, not a multiple of the " + std::to_string(per_sample) +
                           " steps this stage measures");
    for (std::size_t first = 0; first < rows; first += per_sample, ++samples) {
      for (size_t o = 0; o < orderings_.size(); ++o) {
        std::vector<double> curve;
        for (std::size_t r = first; r < first + per_sample; ++r) {
          auto score = csv_number(recorded.table, r, columns[o], origin);
          if (!score) return score.status();
          curve.push_back(score.value());
          curve_sums[o][r - first] += score.value();
        }
        aopc_sums[o] += aopc_of(curve);
      }
    }
    return Status::ok();
  }));
  if (samples == 0) return Status::ok();  // nothing measured: no run-level files
  const double n = static_cast<double>(samples);
  std::ostringstream csv;
  csv << "step,regions_perturbed";
  for (const std::string& name : ordering_names_) csv << "," << name;
  csv << "\n";
  std::vector<Curve> lines(orderings_.size());
  for (size_t o = 0; o < orderings_.size(); ++o)
    lines[o].name = fmt::format("{} {:.4f}", ordering_names_[o], aopc_sums[o] / n);
  for (std::int64_t k = 0; k <= steps_; ++k) {
    csv << k << "," << k * patches_per_step_;
    for (size_t o = 0; o < orderings_.size(); ++o) {
      const double mean = curve_sums[o][static_cast<size_t>(k)] / n;
      csv << "," << fmt::format("{:.9g}", mean);
      lines[o].y.push_back(mean);
    }
    csv << "\n";
  }
  nlohmann::json summary;
  summary["samples"] = samples;
  summary["score"] = on_probability_ ? "probability" : "logit";
  summary["patch"] = patch_;
  summary["patches_per_step"] = patches_per_step_;
  summary["steps"] = steps_;
  summary["formula"] = "AOPC = (1/K) sum_{k=1..K} (s_0 - s_k)";
  std::string line = stage_id_ + ": mean AOPC over " + std::to_string(samples) + " samples:";
  for (size_t o = 0; o < orderings_.size(); ++o) {
    summary["aopc"][ordering_names_[o]] = aopc_sums[o] / n;
    line += fmt::format(" {} {:.4f}", ordering_names_[o], aopc_sums[o] / n);
  }
  // A shard of a split run writes its own run-level files (merge lists them per shard).
  const std::string csv_name = "perturbation_mean" + ctx.shard_suffix + ".csv";
  const std::string plot_name = "perturbation_mean" + ctx.shard_suffix + ".png";
  const std::string summary_name = "faithfulness" + ctx.shard_suffix + ".json";
  LRPFLOW_RETURN_IF_ERROR(write_file_atomic(ctx.output_dir / csv_name, csv.str()));
  LRPFLOW_RETURN_IF_ERROR(write_file_atomic(ctx.output_dir / summary_name, summary.dump(2) + "\n"));
  if (plot_)
    LRPFLOW_RETURN_IF_ERROR(write_png_atomic(
        ctx.output_dir / plot_name,
        plot_curves("mean over " + std::to_string(samples) + " samples (legend: mean AOPC)",
                    on_probability_ ? "probability" : "logit", lines)));
  if (ctx.run_outputs) {
    ctx.run_outputs->push_back({"perturbation_csv", csv_name});
    ctx.run_outputs->push_back({"faithfulness", summary_name});
    if (plot_) ctx.run_outputs->push_back({"perturbation_plot", plot_name});
  }
  log_info(line);
  return Status::ok();
}

}  // namespace lrpflow::eval
