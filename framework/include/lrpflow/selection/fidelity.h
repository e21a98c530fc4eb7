// Agreement between the full model's output and the output through selected neurons only.
#pragma once

#include <vector>

namespace lrpflow::selection {

// Mean squared error between two equally long vectors.
double mean_squared_error(const std::vector<double>& full, const std::vector<double>& restricted);

// SMAPE = 100/n * sum |F - A| / ((|A| + |F|) / 2), with A the full output and F the restricted one;
// a term with |A| + |F| == 0 counts as 0.
double smape(const std::vector<double>& full, const std::vector<double>& restricted);

}  // namespace lrpflow::selection
