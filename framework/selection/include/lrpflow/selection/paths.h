// The k strongest paths through a layered graph (critical-path graph of selected neurons).
//
// Layers 0..L-1 hold nodes; edges go only from a node of layer l to a node of layer l+1. A path
// starts at any node of layer 0 and ends at any node of the last layer. Its strength combines the
// weights of its edges by product (the default; weights may be negative), sum, or minimum. The
// search is exact: dynamic programming over layers keeping, per node, the k best partial paths
// (and, for products, also the k worst, since a negative weight turns the worst into the best).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lrpflow/status.h"

namespace lrpflow::selection {

enum class PathCombine { Product, Sum, Min };
Result<PathCombine> parse_path_combine(const std::string& name);

struct LayeredEdge {
  int from_layer;   // the edge goes from (from_layer, from_node) to (from_layer + 1, to_node)
  int from_node;
  int to_node;
  double weight;
};

struct Path {
  std::vector<int> nodes;  // one node index per layer, layer 0 first
  double strength = 0.0;
};

// `layer_sizes[l]` nodes in layer l. Returns at most k paths, strongest first (ties: lexicographic
// by node indices). Errors: an edge that does not join adjacent layers or names a missing node, k < 1.
Result<std::vector<Path>> k_best_paths(const std::vector<int>& layer_sizes, const std::vector<LayeredEdge>& edges,
                                       int k, PathCombine combine);

}  // namespace lrpflow::selection
