// Which class(es) a stage explains or evaluates (the `target` option of the lrp, baseline and
// faithfulness stages).
//
//   argmax      the predicted class of each sample (default)
//   7           class 7 for every sample
//   top3        each of the 3 highest-scoring classes (three explanations per sample)
//   slot:label  the class stored in the item's `label` slot (an int64 tensor, one per sample)
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "lrpflow/item.h"
#include "lrpflow/lrp/graph.h"
#include "lrpflow/status.h"

namespace lrpflow::lrp {

struct TargetSpec {
  enum class Kind { Argmax, Fixed, Top, Slot };
  Kind kind = Kind::Argmax;
  std::int64_t value = 0;  // the class (Fixed) or n (Top)
  std::string slot;        // Slot
};

Result<TargetSpec> parse_target(const std::string& text);

// For stages that handle one class per sample: parse_target() without topN.
Result<TargetSpec> parse_single_target(const std::string& text);

// targets[r][b]: the class to explain for sample b in explanation r (r = 0 for all but top-n).
Result<std::vector<std::vector<std::int64_t>>> resolve_targets(const TargetSpec& spec, const at::Tensor& logits,
                                                               const Item& item);

// The model's logits for `input` (no autograd) and one class per sample from a single-class spec:
// what attribution and evaluation stages start from.
struct ScoredTargets {
  at::Tensor logits;
  std::vector<std::int64_t> targets;
};
Result<ScoredTargets> score_and_resolve(const Model& model, const at::Tensor& input, const TargetSpec& spec, const Item& item);

}  // namespace lrpflow::lrp
