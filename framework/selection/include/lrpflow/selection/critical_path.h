// The critical-path graph: selected neurons linked across layers by the relevance flowing between them.
//
// Layers are the chosen layers, lowest (closest to the input) first; above the highest layer sits
// the target class. An edge joins neuron i of layer l to neuron j of layer l+1 (or to the target)
// and carries R(i <- j), the relevance i receives from j alone, and its share R(i <- j) / R(j) of
// j's relevance. Paths run from the lowest layer to the target; their strength combines the shares.
// The JSON layout is documented in docs/graph-format.md.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lrpflow/selection/paths.h"
#include "lrpflow/status.h"

namespace lrpflow::selection {

struct GraphLayer {
  std::string name;                   // module path
  std::vector<std::int64_t> neurons;  // selected neuron indices
  std::vector<double> relevance;      // R(j) of each selected neuron
};

struct GraphEdge {
  int lower_layer = 0;  // index into layers; the upper end is lower_layer + 1, or the target when that is layers.size()
  int lower = 0;        // position in the lower layer's neuron list
  int upper = 0;        // position in the upper layer's neuron list (0 for the target)
  double relevance = 0; // R(i <- j)
  double share = 0;     // R(i <- j) / R(j)
};

struct CriticalPathGraph {
  std::int64_t target = 0;
  std::string target_label;            // class name when known
  double target_relevance = 0;         // the start relevance at the target logit
  std::vector<GraphLayer> layers;      // lowest first
  std::vector<GraphEdge> edges;
  std::vector<double> input_relevance; // per neuron of the lowest layer: relevance it hands to the input (may be empty)
  PathCombine combine = PathCombine::Product;
  std::vector<Path> paths;             // node positions per layer (the last entry is the target, always 0)
};

// Fills graph.paths with the k strongest paths from the lowest layer to the target.
Status find_critical_paths(CriticalPathGraph& graph, int k, PathCombine combine);

std::string to_json(const CriticalPathGraph& graph);
std::string to_dot(const CriticalPathGraph& graph);
// Lays the DOT text out with Graphviz (dot engine) and returns SVG text.
Result<std::string> render_svg(const std::string& dot);

}  // namespace lrpflow::selection
