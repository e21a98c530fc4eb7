// StageRunner: one stage alone, opened and run the way the host runs it in a pipeline (after
// MediaPipe's CalculatorRunner), for unit tests of stage types and for trying a stage by hand.
//
//   auto runner = StageRunner::create(registry, "type: heatmap\noptions: {cmap: bwr}", {&resources});
//   ASSERT_TRUE(runner) << runner.status().message();
//   ASSERT_TRUE(runner.value()->open().is_ok());
//   Item item(0, "a", "a.png");
//   item.set("relevance", tensor);
//   Status s = runner.value()->process(item);   // the item's slots, outputs, metrics: inspect them
//   runner.value()->close();                    // run-level files: run_outputs()
//
// The YAML is a stage as a pipeline writes it (`type`, `options`, optionally `id`); its options
// go through the pipeline's own checks (check_options_yaml), so a test sees exactly the errors,
// defaults and ranges a user would. A failing process() fails the item with the stage's id, as
// the host does.
//
// Lifecycle: create, then open() once, then process() (and enumerate() for a source) any number
// of times, then close() once; close() also runs when the runner is destroyed after a successful
// open() without one. Threading: one thread at a time (a reentrant stage's concurrency is the
// runtime's business, tested there).
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "lrpflow/item.h"
#include "lrpflow/output_layout.h"
#include "lrpflow/resource.h"
#include "lrpflow/stage.h"
#include "lrpflow/status.h"

namespace lrpflow {

class PluginRegistry;

struct StageRunnerSetup {
  const ResourceSet* resources = nullptr;  // what option values like `model: model` name
  std::filesystem::path base_dir = ".";    // relative input paths resolve here
  std::filesystem::path output_dir;        // where the stage writes (empty: it must write nothing)
  OutputLayout output_layout = OutputLayout::Flat;
  std::string shard_suffix;                // as CloseContext::shard_suffix
  int threads = 1;
};

class StageRunner {
 public:
  // Errors: unknown stage type (with a hint), YAML syntax, every option problem (one message,
  // one line per problem, positioned in "<stage>.yaml").
  static Result<std::unique_ptr<StageRunner>> create(const PluginRegistry& registry, std::string_view stage_yaml,
                                                     StageRunnerSetup setup = {});
  ~StageRunner();
  StageRunner(const StageRunner&) = delete;
  StageRunner& operator=(const StageRunner&) = delete;

  Status open();
  Result<std::vector<ItemRef>> enumerate();  // sources only
  Status process(Item& item);
  // Closes with the items this runner processed as the run's (counts; for_each_ok_item visits
  // those that succeeded, with their outputs and metrics).
  Status close();

  const Options& options() const { return options_; }
  const SlotDeclaration& slots() const { return slots_; }
  const StageTypeInfo& type() const { return *type_; }
  const std::vector<OutputFile>& run_outputs() const { return run_outputs_; }

 private:
  StageRunner() = default;

  struct Processed {
    std::string id;
    std::int64_t index = 0;
    bool ok = false;
    std::vector<OutputFile> outputs;
    std::map<std::string, double> metrics;
  };

  const StageTypeInfo* type_ = nullptr;
  std::string id_;
  Options options_;
  SlotDeclaration slots_;
  StageRunnerSetup setup_;
  const PluginRegistry* registry_ = nullptr;
  std::unique_ptr<StageInstance> instance_;
  bool opened_ = false;
  bool closed_ = false;
  std::vector<Processed> processed_;
  std::vector<OutputFile> run_outputs_;
};

}  // namespace lrpflow
