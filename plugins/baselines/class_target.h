// Which class an attribution or evaluation stage looks at, per sample: `argmax` (the predicted
// class), a class index (`3`) or `slot:NAME` (an int64 tensor in the item, one class per sample,
// e.g. the `target` slot the lrp and baseline stages write). Header-only so that the baselines and
// faithfulness plugins read the option the same way without sharing a library.
#pragma once

#include <cctype>
#include <cstdint>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "lrpflow/item.h"
#include "lrpflow/status.h"

namespace lrpflow::eval {

struct ClassTarget {
  enum class Kind { Argmax, Fixed, Slot };
  Kind kind = Kind::Argmax;
  std::int64_t fixed_class = 0;
  std::string slot;
};

inline Result<ClassTarget> parse_class_target(const std::string& text) {
  ClassTarget target;
  if (text == "argmax") return target;
  if (text.rfind("slot:", 0) == 0) {
    if (text.size() == 5) return Status::error("option target: 'slot:' needs a slot name");
    target.kind = ClassTarget::Kind::Slot;
    target.slot = text.substr(5);
    return target;
  }
  bool digits = !text.empty() && text.size() < 10;
  for (char c : text) digits = digits && std::isdigit(static_cast<unsigned char>(c));
  if (!digits) return Status::error("option target: '" + text + "' is not argmax, a class index or slot:NAME");
  target.kind = ClassTarget::Kind::Fixed;
  target.fixed_class = std::stoll(text);
  return target;
}

// One class per sample of `logits` [N, classes].
inline Result<std::vector<std::int64_t>> resolve_class_target(const ClassTarget& target, const at::Tensor& logits,
                                                              const Item& item) {
  const std::int64_t batch = logits.size(0), classes = logits.size(1);
  std::vector<std::int64_t> chosen;
  switch (target.kind) {
    case ClassTarget::Kind::Argmax: {
      const at::Tensor best = logits.argmax(1).to(at::kLong).contiguous();
      chosen.assign(best.data_ptr<std::int64_t>(), best.data_ptr<std::int64_t>() + batch);
      break;
    }
    case ClassTarget::Kind::Fixed:
      chosen.assign(static_cast<size_t>(batch), target.fixed_class);
      break;
    case ClassTarget::Kind::Slot: {
      auto stored = item.tensor(target.slot);
      if (!stored) return stored.status().with_context("target slot:" + target.slot);
      const at::Tensor flat = stored.value().reshape({-1}).to(at::kLong).contiguous();
      if (flat.numel() != batch)
        return Status::error("target slot '" + target.slot + "' holds " + std::to_string(flat.numel()) +
                             " classes for a batch of " + std::to_string(batch));
      chosen.assign(flat.data_ptr<std::int64_t>(), flat.data_ptr<std::int64_t>() + batch);
      break;
    }
  }
  for (std::int64_t c : chosen)
    if (c < 0 || c >= classes)
      return Status::error("target class " + std::to_string(c) + " is out of range: the model has " +
                           std::to_string(classes) + " classes");
  return chosen;
}

}  // namespace lrpflow::eval
