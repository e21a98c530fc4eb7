#include "lrpflow/open_stages.h"

#include <exception>

#include "lrpflow/log.h"
#include "lrpflow/open_resources.h"

namespace lrpflow {

OpenedStages::~OpenedStages() {
  CloseContext nothing;
  nothing.output_dir = output_dir_;
  nothing.nothing_ran = true;
  std::vector<OutputFile> ignored;
  nothing.run_outputs = &ignored;
  for (const std::string& problem : close_all(nothing)) log_warn(problem);
}

std::vector<std::string> OpenedStages::close_all(const CloseContext& ctx) {
  std::vector<std::string> problems;
  for (std::size_t k = 0; k < instances_.size(); ++k) {
    if (!instances_[k]) continue;
    Status closed = instances_[k]->close(ctx);
    if (!closed) problems.push_back(labels_[k] + ": close: " + closed.message());
    instances_[k].reset();
  }
  return problems;
}

OpenedStages open_stages(const Pipeline& pipeline, const PluginRegistry& registry, const ResourceSet& resources,
                         const StageOpenOptions& options) {
  OpenedStages opened;
  opened.output_dir_ = pipeline.output_dir;
  opened.instances_.resize(pipeline.stages.size());
  for (std::size_t k = 0; k < pipeline.stages.size(); ++k) {
    const StageConfig& config = pipeline.stages[k];
    const std::string label = "stage '" + config.id + "' (" + config.type + ")";
    opened.labels_.push_back(label);
    if (config.info && failed_resource_named(config.info->options, config.options, options.failed_resources)) continue;
    std::string failure;
    std::unique_ptr<StageInstance> instance;
    try {
      if (config.info && config.info->create) instance = config.info->create();
    } catch (const std::exception& e) {
      failure = "cannot create: " + exception_message(e);
    }
    if (instance) {
      StageContext ctx;
      ctx.stage_id = config.id;
      ctx.stage_type = config.type;
      ctx.options = config.options;
      ctx.resources = &resources;
      ctx.registry = &registry;
      ctx.output_dir = pipeline.output_dir;
      ctx.output_layout = pipeline.output_layout;
      ctx.base_dir = pipeline.base_dir;
      ctx.threads = pipeline.runtime.threads;
      Status status = instance->open(ctx);
      if (status) {
        opened.instances_[k] = std::move(instance);
        continue;
      }
      failure = status.message();
    } else if (failure.empty()) {
      failure = "cannot create an instance";
    }
    opened.diagnostics.push_back({pipeline.file.string(), config.line, config.column,
                                  label + ": " + failure + overrides_under(pipeline, "stages." + config.id + ".")});
    if (options.stop_at_first_failure) break;
  }
  return opened;
}

}  // namespace lrpflow
