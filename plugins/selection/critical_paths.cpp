// `critical_paths`: the selected neurons of consecutive chosen layers linked by conditional relevance.
#include "selection_stages.h"

#include <ATen/ATen.h>

#include <algorithm>

#include "lrpflow/files.h"
#include "lrpflow/labels.h"
#include "lrpflow/lrp/slots.h"
#include "lrpflow/selection/selection.h"
#include "lrpflow/selection/critical_path.h"
#include "lrpflow/selection/neurons.h"

namespace lrpflow::stages {

Status CriticalPathsStage::open(const StageContext& ctx) {
  auto rules = ctx.resources->get<lrp::RuleSet>(ctx.options.get_string("rules"));
  if (!rules) return rules.status();
  engine_ = std::make_shared<const lrp::Engine>(rules.value());
  files_ = ctx.item_files();
  paths_ = static_cast<int>(ctx.options.get_int("paths"));
  auto combine = selection::parse_path_combine(ctx.options.get_string("strength"));
  if (!combine) return combine.status().with_context("option strength");
  combine_ = combine.value();
  write_svg_ = ctx.options.get_bool("svg");
  input_edges_ = ctx.options.get_bool("input_edges");
  sample_ = ctx.options.get_int("sample");
  const std::string labels_file = ctx.options.get_string("labels_file");
  if (!labels_file.empty()) {
    auto labels = load_labels(ctx.base_dir / labels_file);
    if (!labels) return labels.status();
    labels_ = labels.value();
  }
  return Status::ok();
}

Status CriticalPathsStage::process(Item& item) {
  auto inputs = get_selection_inputs(item);
  if (!inputs) return inputs.status();
  auto target_tensor = item.tensor("target");
  if (!target_tensor) return target_tensor.status();
  const lrp::Model& model = engine_->model();
  const lrp::Activations& acts = *inputs.value().activations;
  const lrp::Explanation& full = *inputs.value().explanation;

  // Chosen layers, lowest first.
  std::vector<LayerSelection> layers = inputs.value().selection->layers;
  std::stable_sort(layers.begin(), layers.end(),
                   [&](const LayerSelection& a, const LayerSelection& b) { return model.find(a.layer) < model.find(b.layer); });
  for (const LayerSelection& layer : layers)
    if (layer.neurons.empty()) return Status::error("layer '" + layer.layer + "' has an empty selection: no path can pass it");
  if (layers.empty()) return Status::error("the selection names no layer");

  selection::CriticalPathGraph graph;
  graph.target = target_tensor.value().reshape({-1})[sample_].item<std::int64_t>();
  graph.target_label = label_of(labels_, graph.target);
  graph.target_relevance = full.start_relevance[sample_][graph.target].item<double>();
  for (const LayerSelection& layer : layers) {
    auto r = selection::neuron_relevances(full, layer.layer, sample_);
    if (!r) return r.status();
    selection::GraphLayer g{layer.layer, layer.neurons, {}};
    for (std::int64_t n : layer.neurons) g.relevance.push_back(r.value()[static_cast<size_t>(n)]);
    graph.layers.push_back(std::move(g));
  }

  // Relevance each lower neuron receives from one upper neuron alone: start at the upper layer with
  // only that neuron's relevance, and stop as soon as the lower layer's output relevance is known;
  // all upper neurons of a layer in one batched pass (row j is upper neuron j).
  at::NoGradGuard no_grad;
  auto conditional = [&](const selection::GraphLayer& at_layer, const std::string& read_layer) -> Result<lrp::Explanation> {
    std::vector<lrp::NeuronCondition> conditions;
    for (std::int64_t neuron : at_layer.neurons) conditions.push_back({at_layer.name, neuron});
    lrp::ExplainOptions options;
    if (!read_layer.empty()) {
      options.keep_output_relevance = {read_layer};
      options.stop_at = read_layer;
    }
    return lrp::propagate_conditions(*engine_, acts, full, sample_, conditions, options);
  };
  for (int l = 0; l + 1 < static_cast<int>(graph.layers.size()); ++l) {
    const selection::GraphLayer& lower = graph.layers[l];
    const selection::GraphLayer& upper = graph.layers[l + 1];
    auto e = conditional(upper, lower.name);
    if (!e) return e.status();
    const at::Tensor& at_lower = e.value().layer_output_relevance.at(lower.name);
    for (size_t j = 0; j < upper.neurons.size(); ++j) {
      const std::vector<double> received = selection::sum_per_neuron(at_lower, static_cast<std::int64_t>(j));
      for (size_t i = 0; i < lower.neurons.size(); ++i) {
        const double r = received[static_cast<size_t>(lower.neurons[i])];
        graph.edges.push_back({l, static_cast<int>(i), static_cast<int>(j), r, upper.relevance[j] != 0 ? r / upper.relevance[j] : 0.0});
      }
    }
  }
  const int top = static_cast<int>(graph.layers.size()) - 1;
  for (size_t j = 0; j < graph.layers[top].neurons.size(); ++j) {
    const double r = graph.layers[top].relevance[j];
    graph.edges.push_back({top, static_cast<int>(j), 0, r, graph.target_relevance != 0 ? r / graph.target_relevance : 0.0});
  }
  if (input_edges_) {
    auto e = conditional(graph.layers[0], "");
    if (!e) return e.status();
    for (size_t j = 0; j < graph.layers[0].neurons.size(); ++j)
      graph.input_relevance.push_back(e.value().input_relevance[static_cast<std::int64_t>(j)].sum().item<double>());
  }
  LRPFLOW_RETURN_IF_ERROR(selection::find_critical_paths(graph, paths_, combine_));

  const std::string json_file = files_.relative(item.id(), ".graph.json");
  auto json_path = files_.absolute(json_file);
  if (!json_path) return json_path.status();
  LRPFLOW_RETURN_IF_ERROR(write_file_atomic(json_path.value(), selection::to_json(graph)));
  item.add_output("graph_json", json_file);
  const std::string dot = selection::to_dot(graph);
  const std::string dot_file = files_.relative(item.id(), ".graph.dot");
  auto dot_path = files_.absolute(dot_file);
  if (!dot_path) return dot_path.status();
  LRPFLOW_RETURN_IF_ERROR(write_file_atomic(dot_path.value(), dot));
  item.add_output("graph_dot", dot_file);
  if (write_svg_) {
    auto svg = selection::render_svg(dot);
    if (!svg) return svg.status();
    const std::string svg_file = files_.relative(item.id(), ".graph.svg");
    auto svg_path = files_.absolute(svg_file);
    if (!svg_path) return svg_path.status();
    LRPFLOW_RETURN_IF_ERROR(write_file_atomic(svg_path.value(), svg.value()));
    item.add_output("graph_svg", svg_file);
  }
  item.set_metric("graph/paths", static_cast<double>(graph.paths.size()));
  if (!graph.paths.empty()) item.set_metric("graph/strongest_path", graph.paths[0].strength);
  return Status::ok();
}

}  // namespace lrpflow::stages
