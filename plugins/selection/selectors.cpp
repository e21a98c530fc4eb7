// getoptimizer, topk and mass: one selection per chosen layer, written to the `selection` slot.
#include "selection_stages.h"

#include "lrpflow/lrp/slots.h"
#include "lrpflow/selection/selection.h"
#include "lrpflow/selection/neurons.h"

namespace lrpflow::stages {

Status SelectorStage::open(const StageContext& ctx) {
  stage_id_ = ctx.stage_id;
  auto model = ctx.resources->get<lrp::Model>(ctx.options.get_string("model"));
  if (!model) return model.status();
  model_ = model.value();
  layers_ = ctx.options.get_string_list("layers");
  if (layers_.empty()) layers_ = selection::default_selection_layers(*model_);
  LRPFLOW_RETURN_IF_ERROR(selection::check_selection_layers(*model_, layers_).with_context("option layers"));
  sample_ = ctx.options.get_int("sample");
  optimize_smape_ = ctx.options.get_float("optimize_smape");
  if (optimize_smape_ < 0) return Status::error("option optimize_smape: must be >= 0 (0: off)");
  auto comparison = selection::OutputComparison::from_options(ctx.options, sample_);
  if (!comparison) return comparison.status();
  comparison_ = comparison.value();
  return configure(ctx);
}

Status SelectorStage::process(Item& item) {
  auto acts = lrp::get_activations(item);
  if (!acts) return acts.status();
  auto explanation = lrp::get_explanation(item);
  if (!explanation) return explanation.status();
  Selection result;
  result.method = method();
  selection::OutputComparison::Reference full;  // what optimize_smape compares with
  if (optimize_smape_ > 0) {
    auto reference = comparison_.reference(acts.value()->logits);
    if (!reference) return reference.status();
    full = std::move(reference.value());
  }
  for (const std::string& layer : layers_) {
    auto a = selection::neuron_activations(*model_, *acts.value(), layer, sample_);
    if (!a) return a.status();
    auto r = selection::neuron_relevances(*explanation.value(), layer, sample_);
    if (!r) return r.status();
    auto ranked = select(a.value(), r.value());
    if (!ranked) return ranked.status().with_context("layer '" + layer + "'");
    if (optimize_smape_ > 0 && !ranked.value().neurons.empty()) {
      auto k = optimal_k(*acts.value(), full, layer, ranked.value().neurons);
      if (!k) return k.status().with_context("layer '" + layer + "'");
      ranked.value().neurons.resize(static_cast<size_t>(k.value()));
      ranked.value().scores.resize(static_cast<size_t>(k.value()));
      item.set_metric("selection/" + layer + "/optimal_k", static_cast<double>(k.value()));
    }
    LayerSelection chosen;
    chosen.layer = layer;
    chosen.layer_size = static_cast<std::int64_t>(r.value().size());
    chosen.neurons = ranked.value().neurons;
    chosen.scores = ranked.value().scores;
    item.set_metric("selection/" + layer + "/count", static_cast<double>(chosen.neurons.size()));
    result.layers.push_back(std::move(chosen));
  }
  item.set("selection", std::move(result));
  return Status::ok();
}

Result<std::int64_t> SelectorStage::optimal_k(const lrp::Activations& acts, const selection::OutputComparison::Reference& full,
                                              const std::string& layer, const std::vector<std::int64_t>& ranked) const {
  const auto total = static_cast<std::int64_t>(ranked.size());
  for (std::int64_t k = 1;; k *= 2) {
    const std::int64_t count = std::min(k, total);
    auto logits = selection::forward_keeping(*model_, acts, {{layer, {ranked.begin(), ranked.begin() + count}}});
    if (!logits) return logits.status();
    auto fidelity = comparison_.compare(full, logits.value());
    if (!fidelity) return fidelity.status();
    if (fidelity.value().smape < optimize_smape_ || count == total) return count;
  }
}

Status GetOptimizerStage::configure(const StageContext& ctx) {
  auto contribution = selection::parse_contribution(ctx.options.get_string("contribution"));
  if (!contribution) return contribution.status().with_context("option contribution");
  params_.contribution = contribution.value();
  params_.threshold_factor = ctx.options.get_float("n");
  params_.k = ctx.options.get_int("k");
  if (params_.k < 0) return Status::error("option k: must be >= 0 (0 keeps every neuron above the threshold)");
  for (const std::string& layer : layers_) {
    if (params_.k > selection::neuron_count(*model_, layer))
      return Status::error("option k: " + std::to_string(params_.k) + " is larger than layer '" + layer + "' (" +
                           std::to_string(selection::neuron_count(*model_, layer)) + " neurons)");
  }
  return Status::ok();
}

Result<selection::Ranked> GetOptimizerStage::select(const std::vector<double>& a, const std::vector<double>& r) const {
  return selection::get_optimizer(a, r, params_);
}

Status TopKStage::configure(const StageContext& ctx) {
  k_ = ctx.options.get_int("k");
  for (const std::string& layer : layers_)
    if (k_ > selection::neuron_count(*model_, layer))
      return Status::error("option k: " + std::to_string(k_) + " is larger than layer '" + layer + "' (" +
                           std::to_string(selection::neuron_count(*model_, layer)) + " neurons)");
  return Status::ok();
}

Result<selection::Ranked> TopKStage::select(const std::vector<double>&, const std::vector<double>& r) const {
  return selection::top_k(r, k_);
}

Status MassStage::configure(const StageContext& ctx) {
  share_ = ctx.options.get_float("share");
  if (!(share_ > 0 && share_ <= 1)) return Status::error("option share: must be in (0, 1]");
  return Status::ok();
}

Result<selection::Ranked> MassStage::select(const std::vector<double>&, const std::vector<double>& r) const {
  return selection::relevance_mass(r, share_);
}

}  // namespace lrpflow::stages
