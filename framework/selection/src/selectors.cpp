#include "lrpflow/selection/selectors.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace lrpflow::selection {

Result<Contribution> parse_contribution(const std::string& name) {
  if (name == "relevance") return Contribution::Relevance;
  if (name == "difference") return Contribution::Difference;
  if (name == "product") return Contribution::Product;
  return Status::error("unknown contribution '" + name + "' (valid: relevance, difference, product)");
}

const char* contribution_name(Contribution contribution) {
  switch (contribution) {
    case Contribution::Relevance: return "relevance";
    case Contribution::Difference: return "difference";
    case Contribution::Product: return "product";
  }
  return "?";
}

std::vector<double> l1_normalised(const std::vector<double>& v) {
  double norm = 0.0;
  for (double x : v) norm += std::abs(x);
  std::vector<double> out(v.size(), 0.0);
  if (norm == 0.0) return out;
  for (size_t i = 0; i < v.size(); ++i) out[i] = v[i] / norm;
  return out;
}

std::vector<double> contributions(const std::vector<double>& activation, const std::vector<double>& relevance,
                                  Contribution contribution) {
  if (contribution == Contribution::Relevance) return relevance;
  const std::vector<double> a = l1_normalised(activation);
  const std::vector<double> r = l1_normalised(relevance);
  std::vector<double> c(r.size());
  for (size_t j = 0; j < r.size(); ++j) c[j] = contribution == Contribution::Difference ? r[j] - a[j] : a[j] * r[j];
  return c;
}

std::vector<std::int64_t> rank_descending(const std::vector<double>& scores) {
  std::vector<std::int64_t> order(scores.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::int64_t a, std::int64_t b) { return scores[a] > scores[b]; });
  return order;
}

namespace {

Ranked take(const std::vector<std::int64_t>& order, const std::vector<double>& scores, size_t count) {
  Ranked out;
  for (size_t i = 0; i < order.size() && i < count; ++i) {
    out.neurons.push_back(order[i]);
    out.scores.push_back(scores[order[i]]);
  }
  return out;
}

}  // namespace

Result<Ranked> get_optimizer(const std::vector<double>& activation, const std::vector<double>& relevance,
                             const GetOptimizerParams& params) {
  if (relevance.empty()) return Status::error("the layer has no neurons");
  if (activation.size() != relevance.size())
    return Status::error("activation has " + std::to_string(activation.size()) + " neurons but relevance has " +
                         std::to_string(relevance.size()));
  if (params.k < 0) return Status::error("k must be >= 0 (0 keeps every neuron above the threshold)");
  const std::vector<double> c = contributions(activation, relevance, params.contribution);
  const double n = static_cast<double>(c.size());
  const double mean = std::accumulate(c.begin(), c.end(), 0.0) / n;
  double variance = 0.0;
  for (double x : c) variance += (x - mean) * (x - mean);
  const double threshold = mean - params.threshold_factor * std::sqrt(variance / n);

  std::vector<std::int64_t> kept;
  for (std::int64_t j : rank_descending(c))
    if (c[j] > threshold) kept.push_back(j);
  const size_t count = params.k == 0 ? kept.size() : std::min(kept.size(), static_cast<size_t>(params.k));
  return take(kept, c, count);
}

Result<Ranked> top_k(const std::vector<double>& relevance, std::int64_t k) {
  if (k <= 0) return Status::error("k must be at least 1");
  if (static_cast<size_t>(k) > relevance.size())
    return Status::error("k = " + std::to_string(k) + " but the layer has only " + std::to_string(relevance.size()) +
                         " neurons");
  return take(rank_descending(relevance), relevance, static_cast<size_t>(k));
}

Result<Ranked> relevance_mass(const std::vector<double>& relevance, double share) {
  if (!(share > 0.0 && share <= 1.0)) return Status::error("share must be in (0, 1]");
  double positive = 0.0;
  for (double r : relevance) positive += std::max(r, 0.0);
  Ranked out;
  if (positive <= 0.0) return out;
  double held = 0.0;
  for (std::int64_t j : rank_descending(relevance)) {
    if (relevance[j] <= 0.0 || held >= share * positive) break;
    out.neurons.push_back(j);
    out.scores.push_back(relevance[j]);
    held += relevance[j];
  }
  return out;
}

}  // namespace lrpflow::selection
