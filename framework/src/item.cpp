#include "lrpflow/item.h"

namespace lrpflow {

const char* slot_type_name(SlotType type) {
  switch (type) {
    case SlotType::Tensor: return "tensor";
    case SlotType::Image: return "image";
    case SlotType::Selection: return "selection";
    case SlotType::Table: return "table";
    case SlotType::Text: return "text";
    case SlotType::Any: return "any";
  }
  return "unknown";
}

SlotType slot_type_of(const SlotValue& value) {
  // The variant's alternatives are listed in the same order as SlotType.
  switch (value.index()) {
    case 0: return SlotType::Tensor;
    case 1: return SlotType::Image;
    case 2: return SlotType::Selection;
    case 3: return SlotType::Table;
    case 4: return SlotType::Text;
    default: return SlotType::Any;
  }
}

}  // namespace lrpflow
