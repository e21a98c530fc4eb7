// Agreement between the full model's output and the output through selected neurons only.
#pragma once

#include <cstddef>
#include <vector>

namespace lrpflow::selection {

// Mean squared error between two equally long vectors.
double mean_squared_error(const std::vector<double>& full, const std::vector<double>& restricted);

// SMAPE = 100/n * sum |F - A| / ((|A| + |F|) / 2), with A the full output and F the restricted one;
// a term with |A| + |F| == 0 counts as 0.
double smape(const std::vector<double>& full, const std::vector<double>& restricted);
// The same over the listed classes only (n = their number; no class: 0).
double smape(const std::vector<double>& full, const std::vector<double>& restricted,
             const std::vector<std::size_t>& classes);

// The classes that carry `mass` (in (0, 1]) of a probability vector: the most probable first (ties:
// lower index first) until their probabilities add up to at least `mass`; every class if rounding
// keeps the sum below it. In increasing class order.
std::vector<std::size_t> classes_carrying(const std::vector<double>& probabilities, double mass);

}  // namespace lrpflow::selection
