// Stage: the interface every pipeline stage implements.
//
// Lifecycle (the host guarantees this order, per stage instance):
//   1. open(ctx)       once, before any item, on the host's thread. Read options, fetch resources,
//                      precompute, check what can be checked without data (layer names). Write
//                      nothing: `lrpflow validate` opens stages too. A failed open stops the run
//                      before any item is read.
//   2. process(item)   once per item that reaches the stage without an error. Items arrive in any
//                      order unless the stage type is `ordered`.
//   3. close(ctx)      once after every successful open(), after the last item has left the stage
//                      (also after a stop or Ctrl-C), on the host's thread. Write run-level
//                      outputs here, unless ctx.nothing_ran: then the run never started (a later
//                      stage failed to open, the inputs could not be listed, or `validate` opened
//                      the stage to check it), and close() releases what it holds and writes nothing.
//
// Threading contract:
//   - open() and close() never run concurrently with anything else of the same instance.
//   - process() is called by one thread at a time unless the stage type declares itself
//     `reentrant`; a reentrant stage's process() may run on several items at once and must only
//     read shared state set up in open() (or guard what it writes).
//   - Resources obtained in open() are immutable and may be used from any thread.
//
// Errors are values: return Status::error(...) and the host marks the item as failed with this
// stage's id. Exceptions never cross the plugin boundary: plugins register stage types with
// make_stage_type<T>(), whose factory wraps every call in a try/catch compiled into the plugin.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "lrpflow/item.h"
#include "lrpflow/options.h"
#include "lrpflow/output_layout.h"
#include "lrpflow/resource.h"
#include "lrpflow/status.h"

namespace lrpflow {

class PluginRegistry;

struct StageContext {
  std::string stage_id;      // the `id:` from the pipeline, used in every error message
  std::string stage_type;
  Options options;
  const ResourceSet* resources = nullptr;
  const PluginRegistry* registry = nullptr;
  std::filesystem::path output_dir;  // where the run writes; stages write under it only
  std::filesystem::path base_dir;    // directory of the pipeline file: relative input paths resolve here
  int threads = 1;                   // worker threads of the run
  // Where an item's files go under output_dir (`output.layout`; pipelines default to per_item).
  OutputLayout output_layout = OutputLayout::Flat;
  // Name item files with this (never by hand), so that they follow the layout.
  ItemFiles item_files() const { return {output_dir, output_layout}; }
};

// What an item recorded, as close() sees it (CloseContext::for_each_ok_item).
struct RecordedItem {
  const std::string& id;
  std::int64_t index;  // position in the run's input list
  const std::vector<OutputFile>& outputs;  // paths relative to the output directory
  const std::map<std::string, double>& metrics;
  // The path of this item's output of `kind`, or "" when it recorded none.
  std::string output(std::string_view kind) const {
    for (const OutputFile& file : outputs)
      if (file.kind == kind) return file.path;
    return "";
  }
};

// Passed to close(): lets a stage write run-level outputs and see how the run went.
struct CloseContext {
  std::filesystem::path output_dir;
  std::int64_t items_total = 0;
  std::int64_t items_ok = 0;
  std::int64_t items_failed = 0;
  bool interrupted = false;
  // The run never started: a later stage failed to open, the inputs could not be listed, or
  // `lrpflow validate` opened the stage to check it. Write nothing. (A run interrupted before its
  // first item did start: it closes with `interrupted`.) Plugin API version 5.
  bool nothing_ran = false;
  std::vector<OutputFile>* run_outputs = nullptr;  // append run-level files here (kind, relative path)
  // "" for a whole run; ".shard-I-of-N" when the run is one shard of several (`--shard I/N`). Shards
  // share one output directory, so a stage that writes run-level files puts this in front of their
  // extension (fidelity_sweep.shard-0-of-4.csv); items_total/ok/failed then count the shard's items
  // only. `lrpflow merge` combines the shard files (docs/scale-out.md says how).
  std::string shard_suffix;
  // Visits every item of the run (of the shard) recorded as ok, in input order: those of this session
  // and, after --resume, those an earlier session recorded. Compute run-level outputs from what these
  // items recorded (their files and metrics), not from what process() saw, so that a resumed run's
  // run-level files equal an uninterrupted run's, and memory does not grow with the item count.
  // Unset (tests that call close() directly): no item is visited.
  std::function<Status(const std::function<Status(const RecordedItem&)>&)> for_each_ok_item;
  Status visit_ok_items(const std::function<Status(const RecordedItem&)>& visit) const {
    return for_each_ok_item ? for_each_ok_item(visit) : Status::ok();
  }
};

// One input the source stage will produce, known before any item is loaded (so that the run can
// count, shard and resume before doing any work).
struct ItemRef {
  std::string id;
  std::string source;
};

class Stage {
 public:
  virtual ~Stage() = default;
  virtual Status open(const StageContext& ctx) { (void)ctx; return Status::ok(); }
  virtual Status process(Item& item) = 0;
  virtual Status close(const CloseContext& ctx) { (void)ctx; return Status::ok(); }
};

// A source stage lists the run's inputs in open() and then loads one per process() call: the item
// it receives already has its id and source set from the ItemRef.
class SourceStage : public Stage {
 public:
  // Called once after open(). The list must be deterministic for the same options and files.
  virtual Result<std::vector<ItemRef>> enumerate() = 0;
};

// Which slots a stage reads and writes, given its options (a writer's `slot:` option, say).
struct SlotSpec {
  std::string name;
  SlotType type = SlotType::Tensor;
  std::string help;
  bool optional = false;  // reads only: the stage copes when no earlier stage writes it
};
struct SlotDeclaration {
  std::vector<SlotSpec> reads;
  std::vector<SlotSpec> writes;
};

// What the host sees of a stage instance: every call is noexcept, errors are Status values.
class StageInstance {
 public:
  virtual ~StageInstance() = default;
  virtual Status open(const StageContext& ctx) noexcept = 0;
  virtual Status process(Item& item) noexcept = 0;
  virtual Status close(const CloseContext& ctx) noexcept = 0;
  virtual bool is_source() const noexcept = 0;
  virtual Result<std::vector<ItemRef>> enumerate() noexcept = 0;
};

enum class StageRole { Source, Transform };

// A run-level CSV a stage writes per shard whose rows are means over items: `lrpflow merge`
// combines the shards' files into one, rows matched on `key_columns`, every other column except
// `items` averaged weighted by `items`.
struct MeanCsvOutput {
  std::string kind;                      // the run output's kind, e.g. "fidelity_csv"
  std::vector<std::string> key_columns;  // e.g. layer, selector, k, n
};

// How the report shows some of a stage's output kinds on an item page: as images under a heading.
// Sections with the same heading (from several stage types) are one section.
struct ReportSection {
  std::string heading;             // e.g. "Deconvolution"
  std::vector<std::string> kinds;  // output kinds shown under it, in this order
  bool wide = false;               // graphs and grids get the page width
  int position = 0;                // where on the page, smaller first (the shipped stages: 10 to 60)
};

// How the report names and formats one of a stage's item metrics. `key` is a metric name with at
// most one `*`, which matches any non-empty text (a layer name); `label` may contain `{}`, replaced
// by what the `*` matched.
struct ReportMetric {
  enum class Format {
    Number,   // %.6g
    Integer,  // %.0f
    Percent,  // a fraction in [0, 1] as a percentage (other values as numbers)
    YesNo,    // 0 is "no", anything else "yes"
  };
  std::string key;    // e.g. "fidelity/*/mse"
  std::string label;  // e.g. "Fidelity at {}: MSE"
  Format format = Format::Number;
};

struct StageTypeInfo {
  std::string type;          // the `type:` value in YAML, e.g. "image_loader"
  std::string description;   // one line, shown by `lrpflow plugins`
  StageRole role = StageRole::Transform;
  bool reentrant = false;    // process() may run on several items at once
  bool ordered = false;      // needs items in input order (the host puts a sequencer in front)
  std::vector<OptionSpec> options;
  // The slots an instance with these options reads and writes; checked before the run starts.
  std::function<SlotDeclaration(const Options&)> slots;
  std::function<std::unique_ptr<StageInstance>()> create;
  std::vector<MeanCsvOutput> mean_csv_outputs;  // how its run-level CSVs merge across shards
  std::vector<ReportSection> report_sections;   // how the report shows its item outputs
  // Output kinds that make a good thumbnail in the report's item list (the heatmap), best first.
  std::vector<std::string> report_thumbnail_kinds;
  std::vector<ReportMetric> report_metrics;     // names and formats of the metrics it records
  // The parts of `lrpflow explain`'s pipeline this stage type can play. A role fixes the options
  // explain sets and the slots it connects (docs/cli.md): load_images (path, size, crop, mean, std,
  // color; writes `input`), load_npy (path, npy), forward (labels_file), relevance (target,
  // keep_layers; writes `relevance`), write_tensor (slot, suffix, kind, shape_like), heatmap
  // (cmap, overlay_alpha, write_npy).
  std::vector<std::string> explain_roles;
};

namespace detail {

template <typename T>
class GuardedStage final : public StageInstance {
 public:
  Status open(const StageContext& ctx) noexcept override { return guard([&] { return impl_.open(ctx); }); }
  Status process(Item& item) noexcept override { return guard([&] { return impl_.process(item); }); }
  Status close(const CloseContext& ctx) noexcept override { return guard([&] { return impl_.close(ctx); }); }
  bool is_source() const noexcept override { return std::is_base_of<SourceStage, T>::value; }
  Result<std::vector<ItemRef>> enumerate() noexcept override {
    if constexpr (std::is_base_of<SourceStage, T>::value) {
      try {
        return impl_.enumerate();
      } catch (const std::exception& e) {
        return Status::error(exception_message(e));
      } catch (...) {
        return Status::error("unknown exception");
      }
    } else {
      return Status::error("not a source stage");
    }
  }

 private:
  template <typename F>
  static Status guard(F&& call) noexcept {
    try {
      return call();
    } catch (const std::exception& e) {
      return Status::error(exception_message(e));
    } catch (...) {
      return Status::error("unknown exception");
    }
  }
  T impl_;
};

}  // namespace detail

// Builds a StageTypeInfo whose factory creates T behind the exception guard. T must be default
// constructible and derive from Stage (or SourceStage for role Source).
template <typename T>
StageTypeInfo make_stage_type(std::string type, std::string description, std::vector<OptionSpec> options,
                              std::function<SlotDeclaration(const Options&)> slots) {
  static_assert(std::is_base_of<Stage, T>::value, "stage types derive from lrpflow::Stage");
  StageTypeInfo info;
  info.type = std::move(type);
  info.description = std::move(description);
  info.role = std::is_base_of<SourceStage, T>::value ? StageRole::Source : StageRole::Transform;
  info.options = std::move(options);
  info.slots = std::move(slots);
  info.create = [] { return std::unique_ptr<StageInstance>(new detail::GuardedStage<T>()); };
  return info;
}

}  // namespace lrpflow
