#include "lrpflow/selection/fidelity.h"

#include <cmath>
#include <stdexcept>

namespace lrpflow::selection {

double mean_squared_error(const std::vector<double>& full, const std::vector<double>& restricted) {
  if (full.size() != restricted.size()) throw std::invalid_argument("mean_squared_error: sizes differ");
  if (full.empty()) return 0.0;
  double sum = 0.0;
  for (size_t i = 0; i < full.size(); ++i) sum += (full[i] - restricted[i]) * (full[i] - restricted[i]);
  return sum / static_cast<double>(full.size());
}

double smape(const std::vector<double>& full, const std::vector<double>& restricted) {
  if (full.size() != restricted.size()) throw std::invalid_argument("smape: sizes differ");
  if (full.empty()) return 0.0;
  double sum = 0.0;
  for (size_t i = 0; i < full.size(); ++i) {
    const double denominator = (std::abs(full[i]) + std::abs(restricted[i])) / 2.0;
    if (denominator > 0.0) sum += std::abs(restricted[i] - full[i]) / denominator;
  }
  return 100.0 * sum / static_cast<double>(full.size());
}

}  // namespace lrpflow::selection
