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

// The slot types the forward and LRP stages declare; named so that validation can tell them apart.
inline const SlotType& activations_slot_type() {
  static const SlotType type = SlotType::of<SharedActivations>("activations");
  return type;
}
inline const SlotType& explanation_slot_type() {
  static const SlotType type = SlotType::of<SharedExplanation>("explanation");
  return type;
}

template <typename T>
Result<T> get_shared(const Item& item, const std::string& slot) {
  auto value = item.get<T>(slot);
  if (!value) return value.status();
  return *value.value();
}

inline Result<SharedActivations> get_activations(const Item& item, const std::string& slot = kActivationsSlot) {
  return get_shared<SharedActivations>(item, slot);
}
inline Result<SharedExplanation> get_explanation(const Item& item, const std::string& slot = kExplanationSlot) {
  return get_shared<SharedExplanation>(item, slot);
}

}  // namespace lrpflow::lrp
