#include "lrpflow/selection/output_comparison.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <numeric>
#include <string>

#include "lrpflow/selection/fidelity.h"

namespace lrpflow::selection {

std::vector<OptionSpec> output_comparison_options() {
  return {
      {"on", OptionType::String, std::string("probabilities"), "compare softmax probabilities or logits", false,
       {"probabilities", "logits"}},
      {"smape_classes", OptionType::String, std::string("mass"),
       "SMAPE over the classes holding smape_mass of the full model's probability (mass) or over every class "
       "(all: the paper's formula)",
       false,
       {"mass", "all"}},
      {"smape_mass", OptionType::Float, 0.99, "with smape_classes: mass, the share of probability, in (0, 1]"},
  };
}

Result<OutputComparison> OutputComparison::from_options(const Options& options, std::int64_t sample) {
  OutputComparison comparison;
  comparison.on_probabilities_ = options.get_string("on") == "probabilities";
  comparison.all_classes_ = options.get_string("smape_classes") == "all";
  comparison.mass_ = options.get_float("smape_mass");
  if (!(comparison.mass_ > 0 && comparison.mass_ <= 1))
    return Status::error("option smape_mass: " + std::to_string(comparison.mass_) + " is not in (0, 1]");
  if (sample < 0) return Status::error("option sample: must be >= 0");
  comparison.sample_ = sample;
  return comparison;
}

Result<std::vector<double>> OutputComparison::row(const at::Tensor& logits, bool softmax, std::int64_t index) const {
  if (logits.dim() != 2) return Status::error("the model's output is not [N, classes]");
  if (index < 0) index = sample_;
  if (index >= logits.size(0)) return Status::error("sample " + std::to_string(index) + " is not in the batch");
  at::Tensor values = logits[index];
  if (softmax) values = at::softmax(values, 0);
  values = values.to(at::kDouble).contiguous();
  return std::vector<double>(values.data_ptr<double>(), values.data_ptr<double>() + values.numel());
}

Result<OutputComparison::Reference> OutputComparison::reference(const at::Tensor& full_logits) const {
  Reference full;
  auto values = row(full_logits, on_probabilities_);
  if (!values) return values.status();
  full.values = std::move(values.value());
  full.predicted = static_cast<std::int64_t>(std::max_element(full.values.begin(), full.values.end()) - full.values.begin());
  if (all_classes_) {
    full.classes.resize(full.values.size());
    std::iota(full.classes.begin(), full.classes.end(), std::size_t{0});
  } else {
    // The classes are chosen by the full model's probabilities, also when logits are compared.
    auto probabilities = on_probabilities_ ? full.values : row(full_logits, true).value();
    full.classes = classes_carrying(probabilities, mass_);
  }
  return full;
}

Result<OutputFidelity> OutputComparison::compare(const Reference& full, const at::Tensor& restricted_logits,
                                                 std::int64_t restricted_row) const {
  auto restricted = row(restricted_logits, on_probabilities_, restricted_row);
  if (!restricted) return restricted.status();
  const std::vector<double>& values = restricted.value();
  if (values.size() != full.values.size()) return Status::error("the restricted output has another number of classes");
  OutputFidelity result;
  result.mse = mean_squared_error(full.values, values);
  result.smape = smape(full.values, values, full.classes);
  result.kept_class = std::max_element(values.begin(), values.end()) - values.begin() == full.predicted;
  return result;
}

}  // namespace lrpflow::selection
