// The item: the unit of work that flows through a pipeline.
//
// One item is one input (an image file, a tensor file, one record of a dataset). The source stage
// creates it with an id and its source; every later stage reads and writes named slots. A stage
// never shares the Item it is given with another stage running at the same time (concurrent
// branches each get an overlay, see below), so an Item needs no locking. A stage that fails sets `error`; later stages pass the item on untouched so that it
// reaches the end of the graph, the run summary and the manifest: a failed item is never dropped.
#pragma once

#include <any>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <type_traits>
#include <typeinfo>
#include <string>
#include <variant>
#include <vector>

#include <ATen/core/Tensor.h>

#include "lrpflow/status.h"

namespace lrpflow {

// A small table (CSV-like): per-item sweeps, curves, top-k lists.
struct Table {
  std::vector<std::string> columns;
  std::vector<std::vector<std::string>> rows;
};

// What a slot can hold. Everything that is not a tensor, a table or text travels as `std::any`:
// the domain libraries' types (images, forward passes, explanations, selections) and types that
// plugins agree on. Item::get<T>() reaches both the same way.
using SlotValue = std::variant<at::Tensor, Table, std::string, std::any>;

// A slot's type, by name, as stage declarations state it and validation compares it. The core
// names its own three and `any` (no check); a library that carries a C++ type in slots names it
// once, e.g. `SlotType::of<cv::Mat>("image")`, so that declarations and errors can say "image".
// Naming is thread-safe; the same type may be named again with the same name.
class SlotType {
 public:
  static const SlotType Tensor;
  static const SlotType Table;
  static const SlotType Text;
  static const SlotType Any;

  template <typename T>
  static SlotType of(const char* name) { return name_type(typeid(T), name); }

  const std::string& name() const { return name_; }
  bool operator==(const SlotType& other) const { return name_ == other.name_; }
  bool operator!=(const SlotType& other) const { return name_ != other.name_; }

 private:
  explicit SlotType(std::string name) : name_(std::move(name)) {}
  static SlotType name_type(const std::type_info& type, const char* name);
  friend SlotType slot_type_of(const SlotValue& value);
  std::string name_;
};
inline const char* slot_type_name(const SlotType& type) { return type.name().c_str(); }
// What a value holds: a core type, a named type in `std::any`, or `any` for unnamed ones.
SlotType slot_type_of(const SlotValue& value);

namespace detail {
template <typename T, typename Variant>
struct is_alternative;
template <typename T, typename... Ts>
struct is_alternative<T, std::variant<Ts...>> : std::disjunction<std::is_same<T, Ts>...> {};
}  // namespace detail

// A file written for an item, relative to the run's output directory.
struct OutputFile {
  std::string kind;  // e.g. "relevance", "heatmap", "graph"
  std::string path;
};

struct ItemError {
  std::string stage;    // id of the stage that failed
  std::string message;
};

// "a tensor", "an image": for error messages.
std::string slot_type_article(const SlotType& type);

class Item {
 public:
  Item() = default;
  Item(std::int64_t index, std::string id, std::string source)
      : index_(index), id_(std::move(id)), source_(std::move(source)) {}
  // An overlay: reads fall through to `base` (slots, error), writes stay in the overlay. The host
  // gives concurrent branches of a pipeline one overlay each over the item they share, so that
  // they never write the same object, and merges them in pipeline order where the branches join
  // (absorb). `base` is not changed while overlays of it are in use.
  explicit Item(std::shared_ptr<const Item> base)
      : index_(base->index_), id_(base->id_), source_(base->source_), base_(std::move(base)) {}

  std::int64_t index() const { return index_; }        // position in the run's input list
  const std::string& id() const { return id_; }         // unique within a run; names output files
  const std::string& source() const { return source_; } // where it came from (a path, path#record)

  // Slots.
  bool has(const std::string& slot) const { return find(slot) != nullptr; }
  void set(const std::string& slot, SlotValue value) { slots_[slot] = std::move(value); }
  void erase(const std::string& slot) { slots_.erase(slot); }  // this item's own value only
  const std::map<std::string, SlotValue>& slots() const { return slots_; }  // own, without the base's
  // Typed access: an error naming the slot when it is missing or holds another type. T is one of
  // SlotValue's alternatives or any type carried in its `std::any`.
  template <typename T>
  Result<const T*> get(const std::string& slot) const {
    const SlotValue* found = find(slot);
    if (!found) return Status::error("slot '" + slot + "' is empty");
    if constexpr (detail::is_alternative<T, SlotValue>::value) {
      if (const T* value = std::get_if<T>(found)) return value;
    } else if (const std::any* held = std::get_if<std::any>(found)) {
      if (const T* value = std::any_cast<T>(held)) return value;
    }
    return Status::error("slot '" + slot + "' holds " + slot_type_article(slot_type_of(*found)));
  }
  // Shorthand for tensors, the most common slot.
  Result<at::Tensor> tensor(const std::string& slot) const {
    auto r = get<at::Tensor>(slot);
    if (!r) return r.status();
    return *r.value();
  }

  // Metrics (scalar results: fidelity, conservation, timings) end up in the manifest.
  void set_metric(const std::string& name, double value) { metrics_[name] = value; }
  const std::map<std::string, double>& metrics() const { return metrics_; }  // own

  // Output files written for this item.
  void add_output(std::string kind, std::string path) { outputs_.push_back({std::move(kind), std::move(path)}); }
  const std::vector<OutputFile>& outputs() const { return outputs_; }  // own

  // Error state: once failed, an item keeps its first error (its base's counts).
  bool failed() const { return error_.has_value() || (base_ && base_->failed()); }
  const std::optional<ItemError>& error() const { return error_ || !base_ ? error_ : base_->error(); }
  void fail(std::string stage, std::string message) {
    if (!failed()) error_ = ItemError{std::move(stage), std::move(message)};
  }

  // Merging a branch: `overlay`'s own slots replace this item's, its outputs are appended, its
  // metrics set, and its error kept unless this item failed already.
  void absorb(const Item& overlay);
  // What the host records when the item leaves the graph: id, outputs, metrics and error of this
  // item and every base, oldest first, without the slots (which are released then anyway).
  Item record() const;
  const std::shared_ptr<const Item>& base() const { return base_; }

 private:
  const SlotValue* find(const std::string& slot) const {
    for (const Item* item = this; item; item = item->base_.get()) {
      auto it = item->slots_.find(slot);
      if (it != item->slots_.end()) return &it->second;
    }
    return nullptr;
  }

  std::int64_t index_ = 0;
  std::string id_;
  std::string source_;
  std::map<std::string, SlotValue> slots_;
  std::map<std::string, double> metrics_;
  std::vector<OutputFile> outputs_;
  std::optional<ItemError> error_;
  std::shared_ptr<const Item> base_;
};

}  // namespace lrpflow
