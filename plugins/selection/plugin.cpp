// The `selection` plugin: neuron selectors, the critical-path graph and path fidelity.
#include "selection_stages.h"

#include "lrpflow/lrp/slots.h"
#include "lrpflow/selection/selection.h"
#include "lrpflow/plugin_api.h"

namespace lrpflow::stages {
namespace {

// `options` followed by on, smape_classes and smape_mass (lrpflow/selection/output_comparison.h).
std::vector<OptionSpec> with_comparison_options(std::vector<OptionSpec> options) {
  const auto comparison = selection::output_comparison_options();
  options.insert(options.end(), comparison.begin(), comparison.end());
  return options;
}

std::vector<OptionSpec> selector_options(std::vector<OptionSpec> own) {
  std::vector<OptionSpec> options{
      OptionSpec{"model", OptionType::String, std::string("model"), "name of the model resource"}.names_resource("model"),
      {"layers", OptionType::StringList, std::vector<std::string>{},
       "Conv2d/Linear layers to select in (empty: every one but the output layer)"},
      {"sample", OptionType::Int, std::int64_t{0}, "which sample of the item's batch"},
      {"optimize_smape", OptionType::Float, 0.0,
       "if > 0: per layer keep the smallest k (1, 2, 4, ...) whose path-restricted output has SMAPE (%) under this "
       "(SMAPE as set by on, smape_classes, smape_mass)"},
  };
  options = with_comparison_options(std::move(options));
  options.insert(options.end(), own.begin(), own.end());
  return options;
}

SlotDeclaration selector_slots(const Options&) {
  return {{{lrp::kActivationsSlot, lrp::activations_slot_type(), "from the forward stage"},
           {lrp::kExplanationSlot, lrp::explanation_slot_type(), "from the lrp stage"}},
          {{"selection", selection_slot_type(), "selected neurons per layer, strongest first"}}};
}

template <typename T>
StageTypeInfo selector_type(const char* type, const char* description, std::vector<OptionSpec> own) {
  auto info = make_stage_type<T>(type, description, selector_options(std::move(own)), selector_slots);
  info.reentrant = true;
  return info;
}

StageTypeInfo critical_paths_type() {
  auto info = make_stage_type<CriticalPathsStage>(
      "critical_paths", "graph of the selected neurons linked by conditional relevance, with the k strongest paths "
      "(one partial LRP pass per selected neuron of every chosen layer above the lowest, and with input_edges one "
      "pass to the input per neuron of the lowest; each layer's passes run as one batch)",
      {
          OptionSpec{"rules", OptionType::String, std::string("rules"), "name of the ruleset resource (conditional relevance)"}.names_resource("ruleset"),
          OptionSpec{"paths", OptionType::Int, std::int64_t{5}, "how many strongest paths to find"}.int_range(1, kMaxCount),
          {"strength", OptionType::String, std::string("product"), "path strength from edge shares", false,
           {"product", "sum", "min"}},
          {"svg", OptionType::Bool, true, "also draw <id>.graph.svg with Graphviz"},
          {"input_edges", OptionType::Bool, true,
           "link the lowest layer's neurons to the input node. COST: one LRP pass from the lowest chosen layer down to "
           "the input per selected neuron of it, as one batch; measured per item on VGG16 (before batching): +18 s against 5.7 s for lrp "
           "(docs/selection.md#what-the-per-neuron-options-cost)"},
          {"labels_file", OptionType::String, std::string(""), "class names (one per line or YAML `classes:`)"},
          {"sample", OptionType::Int, std::int64_t{0}, "which sample of the item's batch"},
      },
      [](const Options&) {
        return SlotDeclaration{{{lrp::kActivationsSlot, lrp::activations_slot_type(), "from the forward stage"},
                                {lrp::kExplanationSlot, lrp::explanation_slot_type(), "from the lrp stage"},
                                {"selection", selection_slot_type(), "from a selector"},
                                {"target", SlotType::Tensor, "from the lrp stage"}},
                               {}};
      });
  info.reentrant = true;
  info.report_sections = {{"Critical path", {"graph_svg"}, true, 50}};
  return info;
}

StageTypeInfo fidelity_type() {
  auto info = make_stage_type<FidelityStage>(
      "fidelity", "MSE and SMAPE between the full output and the output through the selected neurons only",
      with_comparison_options({
          OptionSpec{"model", OptionType::String, std::string("model"), "name of the model resource"}.names_resource("model"),
          {"sweep", OptionType::Bool, false, "sweep k = 1, 2, 4, ... and the threshold factors `ns`: CSV and plot per item and per run"},
          {"ns", OptionType::FloatList, std::vector<double>{1.0}, "threshold factors n for the sweep"},
          {"contribution", OptionType::String, std::string("relevance"), "GetOptimizer contribution in the sweep", false,
           {"relevance", "difference", "product"}},
          {"smape_target", OptionType::Float, 5.0, "a sweep reports per layer the smallest k with SMAPE (%) under this"},
          {"sample", OptionType::Int, std::int64_t{0}, "which sample of the item's batch"},
      }),
      [](const Options& o) {
        SlotDeclaration slots{{{lrp::kActivationsSlot, lrp::activations_slot_type(), "from the forward stage"},
                               {"selection", selection_slot_type(), "from a selector"}},
                              {}};
        if (o.get_bool("sweep")) slots.reads.push_back({lrp::kExplanationSlot, lrp::explanation_slot_type(), "from the lrp stage"});
        return slots;
      });
  info.reentrant = true;
  // fidelity_sweep.shard-I-of-N.csv: mean MSE/SMAPE per (layer, selector, k, n) over `items`.
  info.mean_csv_outputs = {{"fidelity_csv", {"layer", "selector", "k", "n"}}};
  info.report_sections = {{"Fidelity", {"fidelity_plot"}, true, 60}};
  info.report_metrics = {{"fidelity/*/mse", "Fidelity at {}: MSE"},
                         {"fidelity/*/smape", "Fidelity at {}: SMAPE"},
                         {"fidelity/*/kept_class", "Fidelity at {}: class kept", ReportMetric::Format::YesNo},
                         {"fidelity/*/optimal_k", "Fidelity at {}: smallest k under the SMAPE target",
                          ReportMetric::Format::Integer}};
  return info;
}

const PluginDescriptor& describe() {
  static const PluginDescriptor descriptor{
      "selection",
      "0.1.0",
      {selector_type<GetOptimizerStage>(
           "getoptimizer", "the paper's GetOptimizer: keep neurons above mean - n*std of their contribution, then the top k",
           {{"contribution", OptionType::String, std::string("relevance"),
             "relevance: c = r; difference: c = r^ - a^; product: c = a^ * r^ (see docs/selection.md)", false,
             {"relevance", "difference", "product"}},
            {"n", OptionType::Float, 1.0, "threshold factor: keep c > mean(c) - n * std(c)"},
            {"k", OptionType::Int, std::int64_t{0}, "keep the top k of those (0: all)"}}),
       selector_type<TopKStage>("topk", "the k neurons with the largest relevance",
                                {OptionSpec{"k", OptionType::Int, std::int64_t{5}, "how many neurons per layer"}.int_range(1, kMaxCount)}),
       selector_type<MassStage>("mass", "the fewest neurons holding a share of the layer's positive relevance",
                                {{"share", OptionType::Float, 0.8, "share of the positive relevance, in (0, 1]"}}),
       critical_paths_type(), fidelity_type()},
      {},
      {}};
  return descriptor;
}

}  // namespace
}  // namespace lrpflow::stages

LRPFLOW_PLUGIN("selection", "0.1.0", lrpflow::stages::describe)
