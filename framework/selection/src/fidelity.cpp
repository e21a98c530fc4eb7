#include "lrpflow/selection/fidelity.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

namespace lrpflow::selection {

double mean_squared_error(const std::vector<double>& full, const std::vector<double>& restricted) {
  if (full.size() != restricted.size()) throw std::invalid_argument("mean_squared_error: sizes differ");
  if (full.empty()) return 0.0;
  double sum = 0.0;
  for (size_t i = 0; i < full.size(); ++i) sum += (full[i] - restricted[i]) * (full[i] - restricted[i]);
  return sum / static_cast<double>(full.size());
}

double smape(const std::vector<double>& full, const std::vector<double>& restricted,
             const std::vector<std::size_t>& classes) {
  if (full.size() != restricted.size()) throw std::invalid_argument("smape: sizes differ");
  if (classes.empty()) return 0.0;
  double sum = 0.0;
  for (std::size_t i : classes) {
    if (i >= full.size()) throw std::invalid_argument("smape: class index out of range");
    const double denominator = (std::abs(full[i]) + std::abs(restricted[i])) / 2.0;
    if (denominator > 0.0) sum += std::abs(restricted[i] - full[i]) / denominator;
  }
  return 100.0 * sum / static_cast<double>(classes.size());
}

double smape(const std::vector<double>& full, const std::vector<double>& restricted) {
  std::vector<std::size_t> every(full.size());
  std::iota(every.begin(), every.end(), std::size_t{0});
  return smape(full, restricted, every);
}

std::vector<std::size_t> classes_carrying(const std::vector<double>& probabilities, double mass) {
  std::vector<std::size_t> order(probabilities.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return probabilities[a] > probabilities[b]; });
  double sum = 0.0;
  std::size_t count = 0;
  while (count < order.size() && sum < mass) sum += probabilities[order[count++]];
  order.resize(count);
  std::sort(order.begin(), order.end());
  return order;
}

}  // namespace lrpflow::selection
