// How the selection stages compare a path-restricted output with the full model's output
// (docs/selection.md, "Path-restricted output and fidelity"): the options `on`, `smape_classes`
// and `smape_mass`, shared by the fidelity stage and the selectors' `optimize_smape`.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>

#include "lrpflow/options.h"
#include "lrpflow/status.h"

namespace lrpflow::selection {

// The option specs that configure an OutputComparison.
std::vector<OptionSpec> output_comparison_options();

struct OutputFidelity {
  double mse = 0;
  double smape = 0;
  bool kept_class = false;  // argmax of the restricted output is the full model's
};

class OutputComparison {
 public:
  static Result<OutputComparison> from_options(const Options& options, std::int64_t sample);

  // One item's full output, what every restricted output of that item is compared with.
  struct Reference {
    std::vector<double> values;        // probabilities or logits, as compared
    std::vector<std::size_t> classes;  // the classes SMAPE runs over
    std::int64_t predicted = 0;
  };
  Result<Reference> reference(const at::Tensor& full_logits) const;
  // Reads row `restricted_row` of the restricted logits (-1: the item's sample, as the full output).
  Result<OutputFidelity> compare(const Reference& full, const at::Tensor& restricted_logits,
                                 std::int64_t restricted_row = -1) const;

 private:
  // Row `index` (-1: `sample_`) of a [N, classes] logit tensor as doubles, softmax first when `softmax`.
  Result<std::vector<double>> row(const at::Tensor& logits, bool softmax, std::int64_t index = -1) const;

  bool on_probabilities_ = true;
  bool all_classes_ = false;
  double mass_ = 0.99;
  std::int64_t sample_ = 0;
};

}  // namespace lrpflow::selection
