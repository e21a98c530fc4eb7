// Opening a pipeline's stages, as `run` does before the first item and `validate` does to check
// what needs a model but no data (layer names, option combinations a stage checks in open()).
//
// Every stage that opened is closed exactly once: by the run, after its items, with the run's
// outcome (close_all); otherwise by this object when it goes away, with CloseContext::nothing_ran
// set, so that a stage releases what it holds and writes nothing. That covers a later stage
// failing to open, a run that cannot start (its inputs cannot be listed, say), and `validate`.
//
// Single-threaded: call everything from the host's thread (stage.h's open/close contract).
#pragma once

#include <cstddef>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "lrpflow/pipeline.h"
#include "lrpflow/resource.h"
#include "lrpflow/stage.h"

namespace lrpflow {

class PluginRegistry;

struct StageOpenOptions {
  // run: stop at the first stage that cannot open. validate: open every stage, report each failure.
  bool stop_at_first_failure = true;
  // Resources that could not be opened (validate): a stage whose options name one is not opened,
  // since it could only say the resource is missing, which the resource's own error says already.
  std::set<std::string> failed_resources;
};

class OpenedStages {
 public:
  OpenedStages() = default;
  OpenedStages(OpenedStages&&) = default;
  OpenedStages& operator=(OpenedStages&&) = delete;
  ~OpenedStages();

  // One per stage that could not be created or opened, at the stage's line, naming it and the
  // --set overrides that reach it.
  std::vector<Diagnostic> diagnostics;
  bool ok() const { return diagnostics.empty(); }

  // The instance of pipeline.stages[k]; null when it did not open (or was not tried).
  StageInstance* instance(std::size_t k) const { return k < instances_.size() ? instances_[k].get() : nullptr; }

  // Closes every open stage with the run's outcome, in pipeline order; returns their failures as
  // "stage 'id' (type): close: ...". Afterwards nothing is left to close.
  std::vector<std::string> close_all(const CloseContext& ctx);

 private:
  friend OpenedStages open_stages(const Pipeline&, const PluginRegistry&, const ResourceSet&, const StageOpenOptions&);
  std::vector<std::unique_ptr<StageInstance>> instances_;  // pipeline.stages order
  std::vector<std::string> labels_;                        // "stage 'id' (type)"
  std::filesystem::path output_dir_;
};

OpenedStages open_stages(const Pipeline& pipeline, const PluginRegistry& registry, const ResourceSet& resources,
                         const StageOpenOptions& options = {});

}  // namespace lrpflow
