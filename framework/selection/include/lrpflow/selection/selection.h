// The selection: which neurons a selector chose, as it travels in the `selection` slot from the
// selector to the stages that use it (critical paths, fidelity, heatmaps, deconvolution).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lrpflow/item.h"
#include "lrpflow/lrp/slots.h"

namespace lrpflow {

// Neurons chosen in one layer: channels of a conv layer or units of a linear layer.
struct LayerSelection {
  std::string layer;                 // module path, e.g. "features.28"
  std::int64_t layer_size = 0;       // number of neurons in the layer
  std::vector<std::int64_t> neurons; // chosen neuron indices, strongest first
  std::vector<double> scores;        // the selector's score of each chosen neuron (same order)
};

struct Selection {
  std::string method;                 // the selector that made it
  std::vector<LayerSelection> layers;  // in forward order
};

inline constexpr const char* kSelectionSlot = "selection";
// The slot type selectors declare for what they write and later stages for what they read.
inline const SlotType& selection_slot_type() {
  static const SlotType type = SlotType::of<Selection>("selection");
  return type;
}

// What the stages after a selector read: the forward pass, the explanation and the selection.
struct SelectionInputs {
  lrp::SharedActivations activations;
  lrp::SharedExplanation explanation;
  const Selection* selection = nullptr;
};
inline Result<SelectionInputs> get_selection_inputs(const Item& item) {
  auto activations = lrp::get_activations(item);
  if (!activations) return activations.status();
  auto explanation = lrp::get_explanation(item);
  if (!explanation) return explanation.status();
  auto selection = item.get<Selection>(kSelectionSlot);
  if (!selection) return selection.status();
  return SelectionInputs{activations.value(), explanation.value(), selection.value()};
}

}  // namespace lrpflow
