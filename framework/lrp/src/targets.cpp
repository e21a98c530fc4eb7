#include "lrpflow/lrp/targets.h"

#include <ATen/ATen.h>

#include <cctype>

namespace lrpflow::lrp {

namespace {

bool all_digits(const std::string& s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  return true;
}

}  // namespace

Result<TargetSpec> parse_target(const std::string& text) {
  TargetSpec spec;
  if (text == "argmax") return spec;
  if (all_digits(text)) {
    spec.kind = TargetSpec::Kind::Fixed;
    spec.value = std::stoll(text);
    return spec;
  }
  if (text.rfind("top", 0) == 0 && all_digits(text.substr(3))) {
    spec.kind = TargetSpec::Kind::Top;
    spec.value = std::stoll(text.substr(3));
    if (spec.value < 1) return Status::error("target '" + text + "': top needs at least 1 class");
    return spec;
  }
  if (text.rfind("slot:", 0) == 0 && text.size() > 5) {
    spec.kind = TargetSpec::Kind::Slot;
    spec.slot = text.substr(5);
    return spec;
  }
  return Status::error("target '" + text + "' is not one of: argmax, a class index (e.g. 3), topN (e.g. top3), slot:NAME");
}

Result<TargetSpec> parse_single_target(const std::string& text) {
  auto spec = parse_target(text);
  if (spec && spec.value().kind == TargetSpec::Kind::Top)
    return Status::error("target '" + text + "': this stage explains one class per sample (argmax, a class index or slot:NAME)");
  return spec;
}

Result<std::vector<std::vector<std::int64_t>>> resolve_targets(const TargetSpec& spec, const at::Tensor& logits,
                                                               const Item& item) {
  const std::int64_t batch = logits.size(0);
  const std::int64_t classes = logits.size(1);
  std::vector<std::vector<std::int64_t>> targets;
  switch (spec.kind) {
    case TargetSpec::Kind::Argmax: {
      const at::Tensor best = logits.argmax(1).contiguous();
      targets.emplace_back(best.data_ptr<std::int64_t>(), best.data_ptr<std::int64_t>() + batch);
      break;
    }
    case TargetSpec::Kind::Fixed:
      if (spec.value >= classes)
        return Status::error("target class " + std::to_string(spec.value) + " is out of range: the model has " +
                             std::to_string(classes) + " classes");
      targets.emplace_back(static_cast<size_t>(batch), spec.value);
      break;
    case TargetSpec::Kind::Top: {
      if (spec.value > classes)
        return Status::error("target top" + std::to_string(spec.value) + " asks for more classes than the model's " +
                             std::to_string(classes));
      const at::Tensor order = std::get<1>(logits.topk(spec.value, 1)).contiguous();
      for (std::int64_t r = 0; r < spec.value; ++r) {
        std::vector<std::int64_t> rank(static_cast<size_t>(batch));
        for (std::int64_t b = 0; b < batch; ++b) rank[b] = order[b][r].item<std::int64_t>();
        targets.push_back(std::move(rank));
      }
      break;
    }
    case TargetSpec::Kind::Slot: {
      auto label = item.tensor(spec.slot);
      if (!label) return label.status().with_context("target slot:" + spec.slot);
      const at::Tensor flat = label.value().reshape({-1}).to(at::kLong).contiguous();
      if (flat.numel() != batch)
        return Status::error("target slot '" + spec.slot + "' holds " + std::to_string(flat.numel()) +
                             " classes for a batch of " + std::to_string(batch));
      std::vector<std::int64_t> classes_of(flat.data_ptr<std::int64_t>(), flat.data_ptr<std::int64_t>() + batch);
      for (std::int64_t c : classes_of)
        if (c < 0 || c >= classes)
          return Status::error("target class " + std::to_string(c) + " from slot '" + spec.slot +
                               "' is out of range: the model has " + std::to_string(classes) + " classes");
      targets.push_back(std::move(classes_of));
      break;
    }
  }
  return targets;
}

Result<ScoredTargets> score_and_resolve(const Model& model, const at::Tensor& input, const TargetSpec& spec, const Item& item) {
  ScoredTargets scored;
  {
    at::NoGradGuard no_grad;
    auto forward = model.forward(input, std::vector<std::string>{});
    if (!forward) return forward.status();
    scored.logits = forward.value().logits;
  }
  auto targets = resolve_targets(spec, scored.logits, item);
  if (!targets) return targets.status();
  scored.targets = targets.value().front();
  return scored;
}

}  // namespace lrpflow::lrp
