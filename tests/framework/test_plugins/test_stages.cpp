// Stage and resource types used by the framework tests. Each one exercises one runtime behaviour:
// counting source (N items, optional load failures), failing stage, slow reentrant stage that
// measures concurrency, ordered recorder, file writer (for --resume), a stage whose open() fails,
// a tensor reader (slot type checks), a manifest probe (durability), a close probe (how the host
// closes a stage) and a constant resource.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>

#include "lrpflow/files.h"
#include "lrpflow/manifest.h"
#include "lrpflow/plugin_api.h"

namespace {
using namespace lrpflow;

class CountingSource : public SourceStage {
 public:
  Status open(const StageContext& ctx) override {
    count_ = ctx.options.get_int("count");
    prefix_ = ctx.options.get_string("prefix");
    for (const std::string& id : ctx.options.get_string_list("fail_load")) fail_load_.insert(id);
    if (count_ < 0) return Status::error("count must not be negative");
    return Status::ok();
  }
  Result<std::vector<ItemRef>> enumerate() override {
    std::vector<ItemRef> refs;
    for (std::int64_t i = 0; i < count_; ++i) {
      char id[64];
      std::snprintf(id, sizeof id, "%s-%03lld", prefix_.c_str(), static_cast<long long>(i));
      refs.push_back({id, "count#" + std::to_string(i)});
    }
    return refs;
  }
  Status process(Item& item) override {
    if (fail_load_.count(item.id())) return Status::error("cannot load " + item.source());
    item.set("value", std::to_string(item.index()));
    return Status::ok();
  }

 private:
  std::int64_t count_ = 0;
  std::string prefix_;
  std::set<std::string> fail_load_;
};

class FailingStage : public Stage {
 public:
  Status open(const StageContext& ctx) override {
    for (const std::string& id : ctx.options.get_string_list("ids")) ids_.insert(id);
    throw_ = ctx.options.get_string("how") == "throw";
    return Status::ok();
  }
  Status process(Item& item) override {
    if (!ids_.count(item.id())) return Status::ok();
    if (throw_) throw std::runtime_error("exception for " + item.id());
    return Status::error("deliberate failure of " + item.id());
  }

 private:
  std::set<std::string> ids_;
  bool throw_ = false;
};

// Sleeps, and records how many process() calls overlap (the type is reentrant).
std::atomic<int> g_active{0};
std::atomic<int> g_finished{0};
class SlowStage : public Stage {
 public:
  Status open(const StageContext& ctx) override {
    sleep_ms_ = ctx.options.get_int("sleep_ms");
    jitter_ = ctx.options.get_bool("jitter");
    metric_ = ctx.options.get_string("metric");
    g_finished = 0;
    return Status::ok();
  }
  Status process(Item& item) override {
    const int active = ++g_active;
    item.set_metric(metric_, active);
    // Jitter makes items overtake each other, so that order-dependent stages are really tested.
    const std::int64_t ms = jitter_ ? (item.index() * 7) % 5 : sleep_ms_;
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    item.set_metric("finish_rank", g_finished++);
    --g_active;
    return Status::ok();
  }

 private:
  std::int64_t sleep_ms_ = 0;
  bool jitter_ = false;
  std::string metric_;
};

// Writes slot `write` = its id followed by the texts of the `read` slots, and a file
// tags/<id>.<write>.txt with that text: what a branch of a graph saw and left.
class TagStage : public Stage {
 public:
  Status open(const StageContext& ctx) override {
    output_dir_ = ctx.output_dir;
    reads_ = ctx.options.get_string_list("read");
    write_ = ctx.options.get_string("write");
    id_ = ctx.stage_id;
    return Status::ok();
  }
  Status process(Item& item) override {
    std::string text = id_ + "(";
    for (std::size_t i = 0; i < reads_.size(); ++i) {
      auto value = item.get<std::string>(reads_[i]);
      if (!value) return value.status();
      text += (i ? "," : "") + *value.value();
    }
    text += ")";
    item.set(write_, text);
    const std::string relative = "tags/" + item.id() + "." + write_ + ".txt";
    LRPFLOW_RETURN_IF_ERROR(write_file_atomic(output_dir_ / relative, text));
    item.add_output("tag", relative);
    return Status::ok();
  }

 private:
  std::filesystem::path output_dir_;
  std::vector<std::string> reads_;
  std::string write_;
  std::string id_;
};

// Records the order in which items arrive; writes it to order.txt on close.
class OrderedRecorder : public Stage {
 public:
  Status open(const StageContext& ctx) override {
    output_dir_ = ctx.output_dir;
    return Status::ok();
  }
  Status process(Item& item) override {
    order_.push_back(item.index());
    item.set_metric("position", static_cast<double>(order_.size() - 1));
    return Status::ok();
  }
  Status close(const CloseContext& ctx) override {
    if (ctx.nothing_ran) return Status::ok();
    std::string text;
    for (std::int64_t index : order_) text += std::to_string(index) + "\n";
    LRPFLOW_RETURN_IF_ERROR(write_file_atomic(output_dir_ / "order.txt", text));
    ctx.run_outputs->push_back({"order", "order.txt"});
    return Status::ok();
  }

 private:
  std::filesystem::path output_dir_;
  std::vector<std::int64_t> order_;
};

class ConstantResource : public Resource {
 public:
  explicit ConstantResource(std::int64_t value) : value(value) {}
  std::int64_t value;
};

// Writes items/<id>.txt with the slot's text (and the resource's value when one is named).
class TextWriter : public Stage {
 public:
  Status open(const StageContext& ctx) override {
    slot_ = ctx.options.get_string("slot");
    output_dir_ = ctx.output_dir;
    const std::string resource = ctx.options.get_string("resource");
    if (!resource.empty()) {
      auto constant = ctx.resources->get<ConstantResource>(resource);
      if (!constant) return constant.status();
      suffix_ = " " + std::to_string(constant.value()->value);
    }
    return Status::ok();
  }
  Status process(Item& item) override {
    auto text = item.get<std::string>(slot_);
    if (!text) return text.status();
    const std::string relative = "items/" + safe_name_component(item.id()) + ".txt";
    LRPFLOW_RETURN_IF_ERROR(write_file_atomic(output_dir_ / relative, *text.value() + suffix_ + "\n"));
    item.add_output("text", relative);
    ++processed_;
    return Status::ok();
  }
  Status close(const CloseContext& ctx) override {
    if (ctx.nothing_ran) return Status::ok();
    LRPFLOW_RETURN_IF_ERROR(write_file_atomic(output_dir_ / "writer_count.txt", std::to_string(processed_) + "\n"));
    ctx.run_outputs->push_back({"count", "writer_count.txt"});
    return Status::ok();
  }

 private:
  std::string slot_;
  std::string suffix_;
  std::filesystem::path output_dir_;
  std::atomic<int> processed_{0};
};

// Reads the manifest on disk and counts the files it lists that are not flushed yet (metric
// `unflushed_listed`; `listed_items`: how many items it listed), to test that the runtime flushes
// the batch of written files before each manifest it writes.
class ManifestProbe : public Stage {
 public:
  Status open(const StageContext& ctx) override {
    output_dir_ = ctx.output_dir;
    return Status::ok();
  }
  Status process(Item& item) override {
    std::int64_t unflushed = 0;
    std::int64_t listed = 0;
    if (std::filesystem::exists(output_dir_ / "manifest.json")) {
      auto manifest = read_manifest(output_dir_ / "manifest.json");
      if (!manifest) return manifest.status();
      for (const ManifestItem& recorded : manifest.value().items) {
        ++listed;
        for (const OutputFile& output : recorded.outputs) unflushed += awaiting_flush(output_dir_ / output.path);
      }
    }
    item.set_metric("unflushed_listed", static_cast<double>(unflushed));
    item.set_metric("listed_items", static_cast<double>(listed));
    return Status::ok();
  }

 private:
  std::filesystem::path output_dir_;
};

class OpenFails : public Stage {
 public:
  Status open(const StageContext&) override { return Status::error("deliberately failing open"); }
  Status process(Item&) override { return Status::ok(); }
};

// Appends "closed nothing_ran=<0|1>" to the file `marker` (outside the run's folder) when closed,
// so that a test sees whether, and how, the host closed it.
class CloseProbe : public Stage {
 public:
  Status open(const StageContext& ctx) override {
    marker_ = ctx.options.get_string("marker");
    return Status::ok();
  }
  Status process(Item&) override { return Status::ok(); }
  Status close(const CloseContext& ctx) override {
    std::FILE* file = std::fopen(marker_.c_str(), "a");
    if (!file) return Status::error("cannot open " + marker_);
    std::fprintf(file, "closed nothing_ran=%d\n", ctx.nothing_ran ? 1 : 0);
    std::fclose(file);
    return Status::ok();
  }

 private:
  std::string marker_;
};

class TensorReader : public Stage {
 public:
  Status process(Item&) override { return Status::ok(); }
};

const PluginDescriptor& describe() {
  static const PluginDescriptor descriptor = [] {
    PluginDescriptor d;
    d.name = "framework_test";
    d.version = "1.0.0";
    d.stages.push_back(make_stage_type<CountingSource>(
        "test_source", "Counts from 0 to count-1",
        {{"count", OptionType::Int, {}, "number of items", true, {}},
         {"prefix", OptionType::String, std::string("item"), "id prefix", false, {}},
         {"fail_load", OptionType::StringList, std::vector<std::string>{}, "ids whose load fails", false, {}}},
        [](const Options&) { return SlotDeclaration{{}, {{"value", SlotType::Text, "the index as text", false}}}; }));
    d.stages.push_back(make_stage_type<FailingStage>(
        "test_fail", "Fails on chosen item ids",
        {{"ids", OptionType::StringList, std::vector<std::string>{}, "ids to fail", false, {}},
         {"how", OptionType::String, std::string("status"), "error status or exception", false, {"status", "throw"}}},
        [](const Options&) { return SlotDeclaration{{{"value", SlotType::Text, "", false}}, {}}; }));
    StageTypeInfo slow = make_stage_type<SlowStage>(
        "test_slow", "Sleeps and measures concurrency",
        {{"sleep_ms", OptionType::Int, std::int64_t{2}, "sleep per item", false, {}},
         {"jitter", OptionType::Bool, false, "sleep (index*7)%5 ms instead", false, {}},
         {"metric", OptionType::String, std::string("concurrent"), "metric that records the overlap", false, {}}},
        [](const Options&) { return SlotDeclaration{{{"value", SlotType::Text, "", true}}, {}}; });
    slow.reentrant = true;
    d.stages.push_back(slow);
    StageTypeInfo tag = make_stage_type<TagStage>(
        "test_tag", "Writes slot `write` from the `read` slots, and tags/<id>.<write>.txt",
        {{"read", OptionType::StringList, std::vector<std::string>{}, "text slots to read", false, {}},
         {"write", OptionType::String, {}, "text slot to write", true, {}}},
        [](const Options& o) {
          SlotDeclaration slots;
          for (const std::string& read : o.get_string_list("read")) slots.reads.push_back({read, SlotType::Text, "", false});
          slots.writes.push_back({o.get_string("write"), SlotType::Text, "", false});
          return slots;
        });
    tag.reentrant = true;
    d.stages.push_back(tag);
    StageTypeInfo ordered = make_stage_type<OrderedRecorder>(
        "test_ordered", "Records the order items arrive in", {}, [](const Options&) { return SlotDeclaration{}; });
    ordered.ordered = true;
    d.stages.push_back(ordered);
    StageTypeInfo writer = make_stage_type<TextWriter>(
        "test_writer", "Writes items/<id>.txt",
        {{"slot", OptionType::String, std::string("value"), "slot to write", false, {}},
         OptionSpec{"resource", OptionType::String, std::string(""), "constant resource to append", false, {}}
             .names_resource("test_constant")},
        [](const Options& o) { return SlotDeclaration{{{o.get_string("slot"), SlotType::Text, "", false}}, {}}; });
    writer.reentrant = true;
    d.stages.push_back(writer);
    d.stages.push_back(make_stage_type<ManifestProbe>("test_manifest_probe", "Checks that listed files are flushed", {},
                                                      [](const Options&) { return SlotDeclaration{}; }));
    d.stages.push_back(make_stage_type<OpenFails>("test_open_fails", "open() fails", {},
                                                  [](const Options&) { return SlotDeclaration{}; }));
    d.stages.push_back(make_stage_type<CloseProbe>(
        "test_close_probe", "Appends how it was closed to the file `marker`",
        {{"marker", OptionType::String, {}, "file to append to", true, {}}},
        [](const Options&) { return SlotDeclaration{}; }));
    d.stages.push_back(make_stage_type<TensorReader>(
        "test_tensor_reader", "Reads a tensor slot",
        {{"slot", OptionType::String, std::string("value"), "slot to read", false, {}}},
        [](const Options& o) { return SlotDeclaration{{{o.get_string("slot"), SlotType::Tensor, "", false}}, {}}; }));
    ResourceTypeInfo constant;
    constant.type = "test_constant";
    constant.description = "An integer shared by stages";
    constant.options = {{"value", OptionType::Int, {}, "the value", true, {}},
                        {"fail", OptionType::Bool, false, "fail to create", false, {}},
                        OptionSpec{"depends_on", OptionType::String, std::string(""), "another constant it needs", false, {}}
                            .names_resource("test_constant")};
    constant.create = [](const ResourceContext& ctx) -> Result<std::shared_ptr<const Resource>> {
      if (ctx.options.get_bool("fail")) return Status::error("deliberately failing resource");
      return std::shared_ptr<const Resource>(std::make_shared<ConstantResource>(ctx.options.get_int("value")));
    };
    d.resources.push_back(constant);
    ResourceTypeInfo label;  // a second resource type, for type checks of options that name one
    label.type = "test_label";
    label.description = "A resource of another type";
    label.create = [](const ResourceContext&) -> Result<std::shared_ptr<const Resource>> {
      return std::shared_ptr<const Resource>(std::make_shared<ConstantResource>(0));
    };
    d.resources.push_back(label);
    return d;
  }();
  return descriptor;
}

}  // namespace

LRPFLOW_PLUGIN("framework_test", "1.0.0", describe)
