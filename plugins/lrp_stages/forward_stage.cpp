// `forward`: runs the model on the item's input and keeps what later stages need.
#include "lrp_stages.h"

#include <optional>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "lrpflow/labels.h"
#include "lrpflow/files.h"
#include "lrpflow/lrp/slots.h"

namespace lrpflow::stages {

Status ForwardStage::open(const StageContext& ctx) {
  stage_id_ = ctx.stage_id;
  files_ = ctx.item_files();
  input_slot_ = ctx.options.get_string("input");
  write_prediction_ = ctx.options.get_bool("write_prediction");
  auto model = ctx.resources->get<lrp::Model>(ctx.options.get_string("model"));
  if (!model) return model.status();
  model_ = model.value();
  labels_ = ctx.options.get_string_list("labels");
  const std::string labels_file = ctx.options.get_string("labels_file");
  if (!labels_file.empty()) {
    auto loaded = load_labels(ctx.base_dir / labels_file);
    if (!loaded) return loaded.status();
    labels_ = loaded.value();
  }
  return Status::ok();
}

Status ForwardStage::process(Item& item) {
  auto input = item.tensor(input_slot_);
  if (!input) return input.status();
  at::NoGradGuard no_grad;
  auto acts = model_->forward(input.value());
  if (!acts) return acts.status();
  const at::Tensor logits = acts.value().logits;
  if (logits.dim() != 2) return Status::error("the model's output has shape " + std::to_string(logits.dim()) + "-D; expected [N, classes]");
  const at::Tensor probabilities = at::softmax(logits, 1);
  const std::int64_t batch = logits.size(0);
  const std::int64_t top = std::min<std::int64_t>(5, logits.size(1));
  const auto [top_p, top_i] = probabilities.topk(top, 1);

  // The true class of each sample, when the source gave one (a `label` tensor with one entry per sample).
  std::optional<at::Tensor> targets;
  if (item.has("label")) {
    if (auto label = item.tensor("label"); label && label.value().numel() == batch) {
      targets = label.value().reshape({-1}).to(at::kLong);
    }
  }

  nlohmann::json samples = nlohmann::json::array();
  for (std::int64_t b = 0; b < batch; ++b) {
    const std::int64_t predicted = top_i[b][0].item<std::int64_t>();
    const std::string suffix = batch == 1 ? "" : "/" + std::to_string(b);
    item.set_metric("predicted_class" + suffix, static_cast<double>(predicted));
    item.set_metric("confidence" + suffix, top_p[b][0].item<double>());
    nlohmann::json top5 = nlohmann::json::array();
    for (std::int64_t r = 0; r < top; ++r) {
      const std::int64_t c = top_i[b][r].item<std::int64_t>();
      top5.push_back({{"class", c}, {"label", label_of(labels_, c)}, {"probability", top_p[b][r].item<double>()}});
    }
    nlohmann::json sample = {{"predicted", predicted}, {"label", label_of(labels_, predicted)}, {"top5", top5}};
    if (targets) {
      const std::int64_t target = (*targets)[b].item<std::int64_t>();
      item.set_metric("target_class" + suffix, static_cast<double>(target));
      sample["target"] = target;
      sample["target_label"] = label_of(labels_, target);
    }
    samples.push_back(std::move(sample));
  }

  item.set("logits", logits);
  item.set("probabilities", probabilities);
  item.set(lrp::kActivationsSlot, std::any(lrp::SharedActivations(std::make_shared<lrp::Activations>(std::move(acts).value()))));

  if (write_prediction_) {
    // docs/report.md describes this file: the first sample at the top level, every sample under
    // "samples" when the item is a batch.
    nlohmann::json doc = samples[0];
    if (batch > 1) doc["samples"] = samples;
    const std::string name = files_.relative(item.id(), ".prediction.json");
    auto path = files_.absolute(name);
    if (!path) return path.status();
    // Class names from a labels file may not be UTF-8: U+FFFD rather than an exception.
    LRPFLOW_RETURN_IF_ERROR(write_file_atomic(path.value(), doc.dump(2, ' ', false, nlohmann::json::error_handler_t::replace)));
    item.add_output("prediction", name);
  }
  return Status::ok();
}

}  // namespace lrpflow::stages
