#include "lrpflow/selection/paths.h"

#include <algorithm>
#include <limits>

namespace lrpflow::selection {

Result<PathCombine> parse_path_combine(const std::string& name) {
  if (name == "product") return PathCombine::Product;
  if (name == "sum") return PathCombine::Sum;
  if (name == "min") return PathCombine::Min;
  return Status::error("unknown path strength '" + name + "' (valid: product, sum, min)");
}

namespace {

bool stronger(const Path& a, const Path& b) {
  if (a.strength != b.strength) return a.strength > b.strength;
  return a.nodes < b.nodes;
}
bool weaker(const Path& a, const Path& b) {
  if (a.strength != b.strength) return a.strength < b.strength;
  return a.nodes < b.nodes;
}

double combine_step(PathCombine combine, double strength, double weight) {
  switch (combine) {
    case PathCombine::Product: return strength * weight;
    case PathCombine::Sum: return strength + weight;
    case PathCombine::Min: return std::min(strength, weight);
  }
  return strength;
}

double start_strength(PathCombine combine) {
  switch (combine) {
    case PathCombine::Product: return 1.0;
    case PathCombine::Sum: return 0.0;
    case PathCombine::Min: return std::numeric_limits<double>::infinity();
  }
  return 0.0;
}

// Keeps the k best (and, when `keep_worst`, the k worst) of `paths`. Both ends matter for products:
// multiplying by a negative weight turns the weakest partial path into the strongest.
void prune(std::vector<Path>& paths, size_t k, bool keep_worst) {
  if (paths.size() <= (keep_worst ? 2 * k : k)) return;
  std::vector<Path> best = paths;
  std::partial_sort(best.begin(), best.begin() + k, best.end(), stronger);
  best.resize(k);
  if (keep_worst) {
    std::partial_sort(paths.begin(), paths.begin() + k, paths.end(), weaker);
    paths.resize(k);
    best.insert(best.end(), paths.begin(), paths.end());
  }
  paths = std::move(best);
}

}  // namespace

Result<std::vector<Path>> k_best_paths(const std::vector<int>& layer_sizes, const std::vector<LayeredEdge>& edges,
                                       int k, PathCombine combine) {
  if (k < 1) return Status::error("k must be at least 1");
  const int layers = static_cast<int>(layer_sizes.size());
  if (layers == 0) return std::vector<Path>{};
  std::vector<std::vector<const LayeredEdge*>> edges_from(layers);
  for (const LayeredEdge& e : edges) {
    if (e.from_layer < 0 || e.from_layer + 1 >= layers)
      return Status::error("edge from layer " + std::to_string(e.from_layer) + " does not join two adjacent layers");
    if (e.from_node < 0 || e.from_node >= layer_sizes[e.from_layer] || e.to_node < 0 ||
        e.to_node >= layer_sizes[e.from_layer + 1])
      return Status::error("edge " + std::to_string(e.from_node) + "->" + std::to_string(e.to_node) + " at layer " +
                           std::to_string(e.from_layer) + " names a missing node");
    edges_from[e.from_layer].push_back(&e);
  }
  const bool keep_worst = combine == PathCombine::Product;
  const size_t kk = static_cast<size_t>(k);

  // partial[n]: best partial paths ending at node n of the current layer.
  std::vector<std::vector<Path>> partial(layer_sizes[0]);
  for (int n = 0; n < layer_sizes[0]; ++n) partial[n].push_back(Path{{n}, start_strength(combine)});
  for (int l = 0; l + 1 < layers; ++l) {
    std::vector<std::vector<Path>> next(layer_sizes[l + 1]);
    for (const LayeredEdge* e : edges_from[l]) {
      for (const Path& p : partial[e->from_node]) {
        Path extended{p.nodes, combine_step(combine, p.strength, e->weight)};
        extended.nodes.push_back(e->to_node);
        next[e->to_node].push_back(std::move(extended));
      }
    }
    for (auto& candidates : next) prune(candidates, kk, keep_worst);
    partial = std::move(next);
  }
  std::vector<Path> all;
  for (auto& candidates : partial) all.insert(all.end(), candidates.begin(), candidates.end());
  std::sort(all.begin(), all.end(), stronger);
  if (all.size() > kk) all.resize(kk);
  return all;
}

}  // namespace lrpflow::selection
