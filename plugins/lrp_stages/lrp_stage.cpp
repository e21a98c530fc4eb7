// `lrp`: relevance for every layer, from the target logit down to the input.
#include "lrp_stages.h"

#include <ATen/ATen.h>

#include "lrpflow/lrp/slots.h"

namespace lrpflow::stages {

Status LrpStage::open(const StageContext& ctx) {
  auto rules = ctx.resources->get<lrp::RuleSet>(ctx.options.get_string("rules"));
  if (!rules) return rules.status();
  engine_ = std::make_shared<const lrp::Engine>(rules.value());
  auto target = lrp::parse_target(ctx.options.get_string("target"));
  if (!target) return target.status();
  target_ = target.value();
  output_slot_ = ctx.options.get_string("output");
  options_.keep_output_relevance = ctx.options.get_string_list("keep_layers");
  options_.keep_input_relevance = ctx.options.get_string_list("keep_layers");
  options_.diagnostics = ctx.options.get_bool("diagnostics");
  for (const std::string& layer : options_.keep_output_relevance)
    if (layer != "*" && engine_->model().find(layer) < 0)
      return Status::error("option keep_layers: layer '" + layer + "' is not in the model (its layers: " +
                           [&] {
                             std::string names;
                             for (const auto& n : engine_->model().parametric_layer_names()) names += (names.empty() ? "" : ", ") + n;
                             return names;
                           }() + ")");
  return Status::ok();
}

Status LrpStage::process(Item& item) {
  auto acts = lrp::get_activations(item);
  if (!acts) return acts.status();
  const at::Tensor& logits = acts.value()->logits;
  auto targets = lrp::resolve_targets(target_, logits, item);
  if (!targets) return targets.status();
  at::NoGradGuard no_grad;
  for (size_t rank = 0; rank < targets.value().size(); ++rank) {
    auto start = lrp::Engine::start_relevance(logits, targets.value()[rank]);
    if (!start) return start.status();
    auto explanation = engine_->propagate(*acts.value(), start.value(), options_);
    if (!explanation) return explanation.status();
    const lrp::Explanation& e = explanation.value();
    if (!at::isfinite(e.input_relevance).all().item<bool>())
      return Status::error("the input relevance holds NaN or Inf values");
    if (rank == 0) {
      record_metrics(item, e, targets.value()[0]);
      item.set(output_slot_, e.input_relevance);
      item.set("target", at::tensor(targets.value()[0], at::kLong));
      item.set(lrp::kExplanationSlot,
               std::any(lrp::SharedExplanation(std::make_shared<lrp::Explanation>(std::move(explanation).value()))));
    } else {
      item.set(output_slot_ + "@top" + std::to_string(rank + 1), e.input_relevance);
    }
  }
  return Status::ok();
}

void LrpStage::record_metrics(Item& item, const lrp::Explanation& e, const std::vector<std::int64_t>& targets) const {
  // Conservation: the input relevance over the start relevance (1 for a perfectly conservative rule set).
  const at::Tensor per_sample_in = e.input_relevance.reshape({e.input_relevance.size(0), -1}).sum(1).to(at::kDouble);
  const at::Tensor per_sample_start = e.start_relevance.sum(1).to(at::kDouble);
  const std::int64_t batch = per_sample_in.size(0);
  for (std::int64_t b = 0; b < batch; ++b) {
    const std::string suffix = batch == 1 ? "" : "/" + std::to_string(b);
    const double start = per_sample_start[b].item<double>();
    item.set_metric("lrp/target" + suffix, static_cast<double>(targets[static_cast<size_t>(b)]));
    item.set_metric("lrp/start_relevance" + suffix, start);
    item.set_metric("lrp/input_relevance" + suffix, per_sample_in[b].item<double>());
    if (start != 0) item.set_metric("lrp/conservation" + suffix, per_sample_in[b].item<double>() / start);
  }
  for (const lrp::LayerDiagnostics& d : e.diagnostics) {
    const int index = engine_->model().find(d.layer);
    if (index < 0 || !lrp::is_parametric(engine_->model().layer(index).kind)) continue;
    double in = 0, out = 0;
    for (double v : d.relevance_in) in += v;
    for (double v : d.relevance_out) out += v;
    if (out != 0) item.set_metric("lrp/" + d.layer + "/conservation", in / out);
    item.set_metric("lrp/" + d.layer + "/near_zero", static_cast<double>(d.near_zero_denominators));
  }
}

}  // namespace lrpflow::stages
