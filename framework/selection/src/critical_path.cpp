#include "lrpflow/selection/critical_path.h"

#include <graphviz/cgraph.h>
#include <graphviz/gvc.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "lrpflow/utf8.h"

namespace lrpflow::selection {

namespace {

const char* combine_name(PathCombine combine) {
  switch (combine) {
    case PathCombine::Product: return "product";
    case PathCombine::Sum: return "sum";
    case PathCombine::Min: return "min";
  }
  return "?";
}

int upper_size(const CriticalPathGraph& g, int lower_layer) {
  return lower_layer + 1 == static_cast<int>(g.layers.size()) ? 1
                                                              : static_cast<int>(g.layers[lower_layer + 1].neurons.size());
}

std::string node_id(int layer, int position) { return fmt::format("L{}_{}", layer, position); }

// The body of a DOT double-quoted string that shows `text` literally. Layer and class names come
// from untrusted models and sidecars: a bare `"` would end the string and let the rest add
// attributes (URL="javascript:..."), and a backslash would start a Graphviz escape (\N, \G, \l).
// Control characters become spaces; bytes that are not UTF-8, which Graphviz (charset UTF-8)
// rejects, become U+FFFD.
std::string dot_text(std::string_view text) {
  std::string out;
  for (const char c : utf8_with_replacement(text)) {
    if (c == '"' || c == '\\') out += '\\';
    const auto byte = static_cast<unsigned char>(c);
    out += (byte < 0x20 || byte == 0x7f) ? ' ' : c;
  }
  return out;
}

// Graphviz's default ID discipline uses the address of a name's interned string as the object's
// ID, and subgraphs are emitted in ID order: the order of the layer boxes in the SVG then depended
// on what the process had allocated before. These IDs follow the order in which names first
// appear in the DOT text (even numbers; anonymous objects get odd ones, as in the default).
struct SequentialIds {
  std::deque<std::string> names;  // a deque: print() hands out pointers into it
  std::map<std::string, IDTYPE, std::less<>> ids;
  IDTYPE next_anonymous = 1;
};

void* ids_open(Agraph_t*, Agdisc_t*) { return new SequentialIds(); }
long ids_map(void* state, int, char* name, IDTYPE* id, int create) {
  auto& ids = *static_cast<SequentialIds*>(state);
  if (!name) {
    *id = ids.next_anonymous;
    ids.next_anonymous += 2;
    return 1;
  }
  auto it = ids.ids.find(std::string_view(name));
  if (it == ids.ids.end()) {
    if (!create) return 0;
    ids.names.emplace_back(name);
    it = ids.ids.emplace(ids.names.back(), 2 * static_cast<IDTYPE>(ids.names.size())).first;
  }
  *id = it->second;
  return 1;
}
long ids_alloc(void*, int, IDTYPE) { return 0; }  // no object asks for an ID of its own choosing
void ids_free(void*, int, IDTYPE) {}
char* ids_print(void* state, int, IDTYPE id) {
  auto& ids = *static_cast<SequentialIds*>(state);
  if (id % 2 != 0 || id == 0 || id / 2 > ids.names.size()) return nullptr;
  return const_cast<char*>(ids.names[id / 2 - 1].c_str());
}
void ids_close(void* state) { delete static_cast<SequentialIds*>(state); }
void ids_register(void*, int, void*) {}
Agiddisc_t sequential_id_discipline = {ids_open, ids_map, ids_alloc, ids_free, ids_print, ids_close, ids_register};

// Reads DOT text from memory for agread().
struct TextChannel {
  std::string_view rest;
};
int text_read(void* channel, char* buffer, int size) {
  auto& text = static_cast<TextChannel*>(channel)->rest;
  const size_t n = std::min<size_t>(static_cast<size_t>(size), text.size());
  std::memcpy(buffer, text.data(), n);
  text.remove_prefix(n);
  return static_cast<int>(n);
}
int text_put(void*, const char*) { return 0; }
int text_flush(void*) { return 0; }
Agiodisc_t text_io_discipline = {text_read, text_put, text_flush};

// Graphviz reports errors through a callback; keep them for the Status instead of printing them.
std::string graphviz_errors;
int collect_graphviz_error(char* message) {
  graphviz_errors += message;
  return 0;
}

}  // namespace

Status find_critical_paths(CriticalPathGraph& graph, int k, PathCombine combine) {
  std::vector<int> sizes;
  for (const GraphLayer& layer : graph.layers) sizes.push_back(static_cast<int>(layer.neurons.size()));
  sizes.push_back(1);  // the target
  std::vector<LayeredEdge> edges;
  for (const GraphEdge& e : graph.edges) {
    if (e.lower_layer < 0 || e.lower_layer >= static_cast<int>(graph.layers.size()) || e.upper >= upper_size(graph, e.lower_layer))
      return Status::error("critical-path graph: an edge names a missing layer or neuron");
    edges.push_back({e.lower_layer, e.lower, e.upper, e.share});
  }
  auto paths = k_best_paths(sizes, edges, k, combine);
  if (!paths) return paths.status();
  graph.combine = combine;
  graph.paths = std::move(paths).value();
  return Status::ok();
}

std::string to_json(const CriticalPathGraph& graph) {
  nlohmann::json j;
  j["format"] = "lrpflow.critical_path_graph/1";
  j["target"] = {{"index", graph.target}, {"label", graph.target_label}, {"relevance", graph.target_relevance}};
  j["layers"] = nlohmann::json::array();
  for (const GraphLayer& layer : graph.layers) {
    nlohmann::json neurons = nlohmann::json::array();
    for (size_t i = 0; i < layer.neurons.size(); ++i)
      neurons.push_back({{"index", layer.neurons[i]}, {"relevance", layer.relevance[i]}});
    j["layers"].push_back({{"name", layer.name}, {"neurons", neurons}});
  }
  const int layers = static_cast<int>(graph.layers.size());
  j["edges"] = nlohmann::json::array();
  for (const GraphEdge& e : graph.edges) {
    const bool to_target = e.lower_layer + 1 == layers;
    j["edges"].push_back({{"from", {{"layer", graph.layers[e.lower_layer].name},
                                    {"neuron", graph.layers[e.lower_layer].neurons[e.lower]}}},
                          {"to", to_target ? nlohmann::json{{"layer", "target"}, {"neuron", graph.target}}
                                           : nlohmann::json{{"layer", graph.layers[e.lower_layer + 1].name},
                                                            {"neuron", graph.layers[e.lower_layer + 1].neurons[e.upper]}}},
                          {"relevance", e.relevance},
                          {"share", e.share}});
  }
  if (!graph.input_relevance.empty() && !graph.layers.empty()) {
    j["input"] = nlohmann::json::array();
    for (size_t i = 0; i < graph.input_relevance.size(); ++i)
      j["input"].push_back({{"neuron", graph.layers[0].neurons[i]}, {"relevance", graph.input_relevance[i]}});
  }
  j["paths"] = {{"strength", combine_name(graph.combine)}, {"items", nlohmann::json::array()}};
  for (const Path& p : graph.paths) {
    nlohmann::json nodes = nlohmann::json::array();
    for (size_t l = 0; l + 1 < p.nodes.size(); ++l)
      nodes.push_back({{"layer", graph.layers[l].name}, {"neuron", graph.layers[l].neurons[p.nodes[l]]}});
    j["paths"]["items"].push_back({{"neurons", nodes}, {"strength", p.strength}});
  }
  // Names from untrusted models may hold bytes that are not UTF-8: replaced, never an exception.
  return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string to_dot(const CriticalPathGraph& graph) {
  const int layers = static_cast<int>(graph.layers.size());
  // Edges on a highlighted path, as (lower layer, lower pos, upper pos).
  std::set<std::tuple<int, int, int>> on_path;
  for (const Path& p : graph.paths)
    for (size_t l = 0; l + 1 < p.nodes.size(); ++l) on_path.insert({static_cast<int>(l), p.nodes[l], p.nodes[l + 1]});
  double max_edge = 0;
  for (const GraphEdge& e : graph.edges) max_edge = std::max(max_edge, std::abs(e.relevance));

  std::ostringstream dot;
  dot << "digraph critical_paths {\n"
      << "  rankdir=LR; ranksep=1.2; nodesep=0.15; splines=true;\n"
      << "  node [shape=box, style=\"rounded,filled\", fillcolor=\"#f4f4f4\", fontname=\"Helvetica\", fontsize=10];\n"
      << "  edge [arrowsize=0.5];\n";
  if (!graph.input_relevance.empty()) dot << "  input [label=\"input\", shape=ellipse, fillcolor=\"#dddddd\"];\n";
  for (int l = 0; l < layers; ++l) {
    const GraphLayer& layer = graph.layers[l];
    dot << "  subgraph cluster_" << l << " {\n    label=\"" << dot_text(layer.name) << "\"; style=dashed; color=\"#999999\";\n";
    for (size_t i = 0; i < layer.neurons.size(); ++i)
      dot << "    " << node_id(l, static_cast<int>(i)) << " [label=\"" << layer.neurons[i] << "\\nR="
          << fmt::format("{:.3g}", layer.relevance[i]) << "\"];\n";
    dot << "  }\n";
  }
  dot << "  target [label=\"class " << graph.target << (graph.target_label.empty() ? "" : "\\n" + dot_text(graph.target_label))
      << "\\nR=" << fmt::format("{:.3g}", graph.target_relevance)
      << "\", shape=doubleoctagon, fillcolor=\"#ffe0b0\"];\n";
  for (size_t i = 0; i < graph.input_relevance.size(); ++i)
    dot << "  input -> " << node_id(0, static_cast<int>(i)) << " [color=\"#bbbbbb\", penwidth=0.8];\n";
  for (const GraphEdge& e : graph.edges) {
    const bool to_target = e.lower_layer + 1 == layers;
    const std::string to = to_target ? "target" : node_id(e.lower_layer + 1, e.upper);
    const double width = max_edge > 0 ? 0.5 + 5.5 * std::abs(e.relevance) / max_edge : 1.0;
    const bool highlighted = on_path.count({e.lower_layer, e.lower, e.upper}) != 0;
    const char* color = highlighted ? "#d62728" : (e.relevance >= 0 ? "#7f9fbf80" : "#3060d080");
    dot << "  " << node_id(e.lower_layer, e.lower) << " -> " << to << " [penwidth=" << fmt::format("{:.2f}", width)
        << ", color=\"" << color << "\", tooltip=\"R=" << fmt::format("{:.4g}", e.relevance)
        << " share=" << fmt::format("{:.3f}", e.share) << "\"" << (highlighted ? ", weight=4" : "") << "];\n";
  }
  dot << "}\n";
  return dot.str();
}

Result<std::string> render_svg(const std::string& dot) {
  // Graphviz keeps global state (the error buffer, plugin tables): one layout at a time.
  static std::mutex graphviz_mutex;
  std::lock_guard<std::mutex> lock(graphviz_mutex);
  graphviz_errors.clear();
  agseterrf(collect_graphviz_error);
  // One context for the process, never freed. Graphviz 2.42's pango plugin keeps a pointer to the
  // last font name it measured, a string that gvFreeContext() frees: the next context's first label
  // then reads freed memory (a heap-use-after-free AddressSanitizer found in the second render of a
  // process). One context also loads the plugins once instead of per graph.
  static GVC_t* const context = gvContext();
  if (!context) return Status::error("cannot start Graphviz");
  Agdisc_t discipline = {&AgMemDisc, &sequential_id_discipline, &text_io_discipline};
  TextChannel channel{dot};
  Agraph_t* g = agread(&channel, &discipline);
  if (!g) {
    std::string detail = graphviz_errors;
    while (!detail.empty() && (detail.back() == '\n' || detail.back() == ' ')) detail.pop_back();
    return Status::error("Graphviz could not parse the DOT text" + (detail.empty() ? "" : ": " + detail));
  }
  std::string svg;
  Status status;
  if (gvLayout(context, g, "dot") != 0) {
    status = Status::error("Graphviz layout failed");
  } else {
    char* data = nullptr;
    unsigned int length = 0;
    if (gvRenderData(context, g, "svg", &data, &length) != 0 || !data) {
      status = Status::error("Graphviz could not render SVG");
    } else {
      svg.assign(data, length);
      gvFreeRenderData(data);
    }
    gvFreeLayout(context, g);
  }
  agclose(g);
  if (!status.is_ok()) return status;
  return svg;
}

}  // namespace lrpflow::selection
