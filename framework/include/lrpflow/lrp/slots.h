// Typed access to the LRP results that travel in an item's slots.
//
// The forward stage puts the whole forward pass (every layer's output and the max-pool switches)
// into one slot, the LRP stage the whole explanation; later stages (selectors, heatmaps, the
// deconvolver, fidelity) read them. They are shared, immutable objects: a stage that needs a
// variation computes its own copy.
#pragma once

#include <any>
#include <memory>
#include <string>

#include "lrpflow/item.h"
#include "lrpflow/lrp/engine.h"
#include "lrpflow/lrp/graph.h"

namespace lrpflow::lrp {

inline constexpr const char* kActivationsSlot = "activations";
inline constexpr const char* kExplanationSlot = "explanation";

using SharedActivations = std::shared_ptr<const Activations>;
using SharedExplanation = std::shared_ptr<const Explanation>;

template <typename T>
Result<T> get_shared(const Item& item, const std::string& slot) {
  auto value = item.get<std::any>(slot);
  if (!value) return value.status();
  if (const T* typed = std::any_cast<T>(value.value())) return *typed;
  return Status::error("slot '" + slot + "' does not hold what this stage expects");
}

inline Result<SharedActivations> get_activations(const Item& item, const std::string& slot = kActivationsSlot) {
  return get_shared<SharedActivations>(item, slot);
}
inline Result<SharedExplanation> get_explanation(const Item& item, const std::string& slot = kExplanationSlot) {
  return get_shared<SharedExplanation>(item, slot);
}

// What the stages after a selector read: the forward pass, the explanation and the selection.
struct SelectionInputs {
  SharedActivations activations;
  SharedExplanation explanation;
  const Selection* selection = nullptr;
};
inline Result<SelectionInputs> get_selection_inputs(const Item& item) {
  auto activations = get_activations(item);
  if (!activations) return activations.status();
  auto explanation = get_explanation(item);
  if (!explanation) return explanation.status();
  auto selection = item.get<Selection>("selection");
  if (!selection) return selection.status();
  return SelectionInputs{activations.value(), explanation.value(), selection.value()};
}

}  // namespace lrpflow::lrp
