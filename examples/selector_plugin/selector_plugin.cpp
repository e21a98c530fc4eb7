// selector_plugin: a neuron selector from a plugin. The stage `example_top_activation` keeps, in
// each chosen layer, the k neurons with the largest activation a_j (the neuron's feature map
// summed over space) and writes them to the `selection` slot, where the shipped stages after a
// selector (critical_paths, fidelity, heatmap with neurons, deconv) read them:
//
//   - id: select
//     type: example_top_activation
//     options: {k: 4}
//
// docs/writing-plugins.md ("A neuron selector") says what a selection must hold.
#include <algorithm>
#include <numeric>

#include <lrpflow/lrp/graph.h>
#include <lrpflow/lrp/slots.h>
#include <lrpflow/plugin_api.h>
#include <lrpflow/selection/neurons.h>
#include <lrpflow/selection/selection.h>

namespace {

class TopActivation final : public lrpflow::Stage {
 public:
  lrpflow::Status open(const lrpflow::StageContext& ctx) override {
    // The model is a resource: the pipeline declares it under `resources:` and the stage names it
    // in its `model` option. get<T>() checks the name and the type.
    auto model = ctx.resources->get<lrpflow::lrp::Model>(ctx.options.get_string("model"));
    if (!model) return model.status().with_context("option model");
    model_ = model.value();
    layers_ = ctx.options.get_string_list("layers");
    if (layers_.empty()) layers_ = lrpflow::selection::default_selection_layers(*model_);
    // Only Conv2d/Linear layers of this model have neurons: a wrong name fails here, before any
    // item, with the list of valid names.
    if (auto s = lrpflow::selection::check_selection_layers(*model_, layers_); !s) return s.with_context("option layers");
    // The later stages expect the layers in forward order.
    std::sort(layers_.begin(), layers_.end(),
              [&](const std::string& a, const std::string& b) { return model_->find(a) < model_->find(b); });
    k_ = ctx.options.get_int("k");
    if (k_ < 1) return lrpflow::Status::error("option k: must be at least 1");
    sample_ = ctx.options.get_int("sample");
    return lrpflow::Status::ok();
  }

  lrpflow::Status process(lrpflow::Item& item) override {
    // The forward stage's activations of every layer (a shared, read-only object).
    auto activations = lrpflow::lrp::get_activations(item);
    if (!activations) return activations.status();
    lrpflow::Selection selection;
    selection.method = "example_top_activation";
    for (const std::string& layer : layers_) {
      auto a = lrpflow::selection::neuron_activations(*model_, *activations.value(), layer, sample_);
      if (!a) return a.status().with_context("layer '" + layer + "'");
      const std::vector<double>& activation = a.value();
      // Neuron indices, strongest first; ties keep the lower index first (deterministic).
      std::vector<std::int64_t> order(activation.size());
      std::iota(order.begin(), order.end(), 0);
      std::stable_sort(order.begin(), order.end(),
                       [&](std::int64_t i, std::int64_t j) { return activation[i] > activation[j]; });
      order.resize(std::min<std::size_t>(order.size(), static_cast<std::size_t>(k_)));

      lrpflow::LayerSelection chosen;
      chosen.layer = layer;
      chosen.layer_size = static_cast<std::int64_t>(activation.size());
      chosen.neurons = order;
      for (std::int64_t n : order) chosen.scores.push_back(activation[n]);
      item.set_metric("selection/" + layer + "/count", static_cast<double>(chosen.neurons.size()));
      selection.layers.push_back(std::move(chosen));
    }
    item.set("selection", std::move(selection));
    return lrpflow::Status::ok();
  }

 private:
  std::shared_ptr<const lrpflow::lrp::Model> model_;
  std::vector<std::string> layers_;
  std::int64_t k_ = 4;
  std::int64_t sample_ = 0;
};

lrpflow::StageTypeInfo top_activation_type() {
  std::vector<lrpflow::OptionSpec> options = {
      {"model", lrpflow::OptionType::String, std::string("model"), "name of the model resource", false, {}},
      {"layers", lrpflow::OptionType::StringList, std::vector<std::string>{},
       "Conv2d/Linear layers to select in (empty: every one but the output layer)", false, {}},
      {"k", lrpflow::OptionType::Int, std::int64_t{4}, "neurons to keep per layer", false, {}},
      {"sample", lrpflow::OptionType::Int, std::int64_t{0}, "which sample of the item's batch", false, {}},
  };
  auto info = lrpflow::make_stage_type<TopActivation>(
      "example_top_activation", "keeps the k neurons with the largest activation per layer (the example selector)",
      std::move(options), [](const lrpflow::Options&) {
        lrpflow::SlotDeclaration slots;
        slots.reads.push_back({lrpflow::lrp::kActivationsSlot, lrpflow::lrp::activations_slot_type(), "from the forward stage", false});
        slots.writes.push_back({"selection", lrpflow::selection_slot_type(), "the k strongest neurons per layer", false});
        return slots;
      });
  info.reentrant = true;  // process() only reads what open() set
  return info;
}

const lrpflow::PluginDescriptor& describe() {
  static const lrpflow::PluginDescriptor descriptor{
      "selector_plugin", "1.0.0", {top_activation_type()}, /*resources=*/{}, /*rules=*/{}};
  return descriptor;
}

}  // namespace

LRPFLOW_PLUGIN("selector_plugin", "1.0.0", describe)
