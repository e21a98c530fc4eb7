// The item: the unit of work that flows through a pipeline.
//
// One item is one input (an image file, a tensor file, one record of a dataset). The source stage
// creates it with an id and its source; every later stage reads and writes named slots. Stages run
// one after another on a given item (never two stages on the same item at once), so an Item needs
// no locking. A stage that fails sets `error`; later stages pass the item on untouched so that it
// reaches the end of the graph, the run summary and the manifest: a failed item is never dropped.
#pragma once

#include <any>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <ATen/core/Tensor.h>
#include <opencv2/core/mat.hpp>

#include "lrpflow/status.h"

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

// A small table (CSV-like): per-item sweeps, curves, top-k lists.
struct Table {
  std::vector<std::string> columns;
  std::vector<std::vector<std::string>> rows;
};

// What a slot can hold. `std::any` carries plugin-defined types between plugins that agree on them.
using SlotValue = std::variant<at::Tensor, cv::Mat, Selection, Table, std::string, std::any>;

enum class SlotType { Tensor, Image, Selection, Table, Text, Any };
const char* slot_type_name(SlotType type);
SlotType slot_type_of(const SlotValue& value);

// A file written for an item, relative to the run's output directory.
struct OutputFile {
  std::string kind;  // e.g. "relevance", "heatmap", "graph"
  std::string path;
};

struct ItemError {
  std::string stage;    // id of the stage that failed
  std::string message;
};

class Item {
 public:
  Item() = default;
  Item(std::int64_t index, std::string id, std::string source)
      : index_(index), id_(std::move(id)), source_(std::move(source)) {}

  std::int64_t index() const { return index_; }        // position in the run's input list
  const std::string& id() const { return id_; }         // unique within a run; names output files
  const std::string& source() const { return source_; } // where it came from (a path, path#record)

  // Slots.
  bool has(const std::string& slot) const { return slots_.count(slot) != 0; }
  void set(const std::string& slot, SlotValue value) { slots_[slot] = std::move(value); }
  void erase(const std::string& slot) { slots_.erase(slot); }
  const std::map<std::string, SlotValue>& slots() const { return slots_; }
  // Typed access: an error naming the slot when it is missing or holds another type.
  template <typename T>
  Result<const T*> get(const std::string& slot) const {
    auto it = slots_.find(slot);
    if (it == slots_.end()) return Status::error("slot '" + slot + "' is empty");
    if (const T* value = std::get_if<T>(&it->second)) return value;
    return Status::error("slot '" + slot + "' holds a " + slot_type_name(slot_type_of(it->second)));
  }
  // Shorthand for tensors, the most common slot.
  Result<at::Tensor> tensor(const std::string& slot) const {
    auto r = get<at::Tensor>(slot);
    if (!r) return r.status();
    return *r.value();
  }

  // Metrics (scalar results: fidelity, conservation, timings) end up in the manifest.
  void set_metric(const std::string& name, double value) { metrics_[name] = value; }
  const std::map<std::string, double>& metrics() const { return metrics_; }

  // Output files written for this item.
  void add_output(std::string kind, std::string path) { outputs_.push_back({std::move(kind), std::move(path)}); }
  const std::vector<OutputFile>& outputs() const { return outputs_; }

  // Error state: once failed, an item keeps its first error.
  bool failed() const { return error_.has_value(); }
  const std::optional<ItemError>& error() const { return error_; }
  void fail(std::string stage, std::string message) {
    if (!error_) error_ = ItemError{std::move(stage), std::move(message)};
  }

  // Drops every slot (kept: id, metrics, outputs, error): called when the item leaves the graph so
  // that memory is released even if something still holds the item.
  void release_slots() { slots_.clear(); }

 private:
  std::int64_t index_ = 0;
  std::string id_;
  std::string source_;
  std::map<std::string, SlotValue> slots_;
  std::map<std::string, double> metrics_;
  std::vector<OutputFile> outputs_;
  std::optional<ItemError> error_;
};

}  // namespace lrpflow
