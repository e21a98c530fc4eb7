// Neuron selection on per-neuron scores (issue: neuron selection). Pure functions, no tensors: the
// stages reduce activations and relevances to one number per neuron (summed over space) and call
// these. The formulas are stated exactly in docs/selection.md.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lrpflow/status.h"

namespace lrpflow::selection {

// How GetOptimizer combines the forward (activation) and backward (relevance) result of a neuron.
enum class Contribution {
  Relevance,   // c = r
  Difference,  // c = r^ - a^  (backward result minus forward result, each L1-normalised)
  Product,     // c = a^ * r^
};
Result<Contribution> parse_contribution(const std::string& name);
const char* contribution_name(Contribution contribution);

struct Ranked {
  std::vector<std::int64_t> neurons;  // strongest first
  std::vector<double> scores;         // same order
};

// v / sum|v|; all zeros stay zeros.
std::vector<double> l1_normalised(const std::vector<double>& v);

// Per-neuron contribution c_j as chosen by `contribution`.
std::vector<double> contributions(const std::vector<double>& activation, const std::vector<double>& relevance,
                                  Contribution contribution);

struct GetOptimizerParams {
  Contribution contribution = Contribution::Relevance;
  double threshold_factor = 1.0;  // n in: keep c_j > mean(c) - n * std(c)
  std::int64_t k = 0;             // keep the top k of those (0: all that pass the threshold)
};

// The paper's GetOptimizer: threshold at mean - n*std (population std), then the top k by c.
// `activation` and `relevance` have one entry per neuron. Errors: size mismatch, empty layer, k < 0.
Result<Ranked> get_optimizer(const std::vector<double>& activation, const std::vector<double>& relevance,
                             const GetOptimizerParams& params);

// The k neurons with the largest relevance (k <= 0 or k > n: error).
Result<Ranked> top_k(const std::vector<double>& relevance, std::int64_t k);

// The smallest set of neurons (largest relevance first) whose relevance sums to at least `share`
// of the layer's positive relevance. share in (0, 1]; a layer without positive relevance gives an
// empty selection.
Result<Ranked> relevance_mass(const std::vector<double>& relevance, double share);

// Sorts indices by score descending; ties keep the lower index first (deterministic).
std::vector<std::int64_t> rank_descending(const std::vector<double>& scores);

}  // namespace lrpflow::selection
