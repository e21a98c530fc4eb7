#include "lrpflow/item.h"

#include <map>
#include <mutex>
#include <typeindex>

namespace lrpflow {
namespace {

struct SlotTypeNames {
  std::mutex mutex;
  std::map<std::type_index, std::string> names;
};
SlotTypeNames& slot_type_names() {
  static SlotTypeNames names;  // a function-local static: libraries name their types during their own static init
  return names;
}

}  // namespace

const SlotType SlotType::Tensor{"tensor"};
const SlotType SlotType::Table{"table"};
const SlotType SlotType::Text{"text"};
const SlotType SlotType::Any{"any"};

SlotType SlotType::name_type(const std::type_info& type, const char* name) {
  SlotTypeNames& registry = slot_type_names();
  std::lock_guard<std::mutex> lock(registry.mutex);
  registry.names.emplace(std::type_index(type), name);  // the first name stays
  return SlotType(name);
}

SlotType slot_type_of(const SlotValue& value) {
  if (std::holds_alternative<at::Tensor>(value)) return SlotType::Tensor;
  if (std::holds_alternative<Table>(value)) return SlotType::Table;
  if (std::holds_alternative<std::string>(value)) return SlotType::Text;
  const std::any& held = std::get<std::any>(value);
  SlotTypeNames& registry = slot_type_names();
  std::lock_guard<std::mutex> lock(registry.mutex);
  auto it = registry.names.find(std::type_index(held.type()));
  return it == registry.names.end() ? SlotType::Any : SlotType(it->second);
}

std::string slot_type_article(const SlotType& type) {
  if (type == SlotType::Any) return "a value of another type";
  const std::string& name = type.name();
  bool vowel = !name.empty() && std::string("aeiou").find(name[0]) != std::string::npos;
  return (vowel ? "an " : "a ") + name;
}

void Item::absorb(const Item& overlay) {
  for (const auto& [name, value] : overlay.slots_) slots_[name] = value;
  outputs_.insert(outputs_.end(), overlay.outputs_.begin(), overlay.outputs_.end());
  for (const auto& [name, value] : overlay.metrics_) metrics_[name] = value;
  if (overlay.error_ && !failed()) error_ = overlay.error_;
}

Item Item::record() const {
  std::vector<const Item*> chain;
  for (const Item* item = this; item; item = item->base_.get()) chain.push_back(item);
  Item recorded(index_, id_, source_);
  for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
    const Item& part = **it;
    recorded.outputs_.insert(recorded.outputs_.end(), part.outputs_.begin(), part.outputs_.end());
    for (const auto& [name, value] : part.metrics_) recorded.metrics_[name] = value;
    if (part.error_ && !recorded.error_) recorded.error_ = part.error_;
  }
  return recorded;
}

}  // namespace lrpflow
