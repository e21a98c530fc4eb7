#include "lrpflow/stage_runner.h"

#include <yaml-cpp/yaml.h>

#include "lrpflow/pipeline.h"
#include "lrpflow/registry.h"
#include "lrpflow/yaml_load.h"

namespace lrpflow {

Result<std::unique_ptr<StageRunner>> StageRunner::create(const PluginRegistry& registry, std::string_view stage_yaml,
                                                         StageRunnerSetup setup) {
  YAML::Node node;
  try {
    node = load_yaml(std::string(stage_yaml));
  } catch (const YAML::Exception& e) {
    return Status::error("stage YAML: " + std::string(e.what()));
  }
  if (!node.IsMap() || !node["type"] || !node["type"].IsScalar())
    return Status::error("stage YAML: a map with at least `type: <stage type>` (and `options`, `id`) is expected");
  for (auto it = node.begin(); it != node.end(); ++it) {
    const std::string key = it->first.IsScalar() ? it->first.Scalar() : "?";
    if (key != "type" && key != "options" && key != "id")
      return Status::error("stage YAML: unknown key '" + key + "' (a stage has type, options and id)");
  }
  const std::string type_name = node["type"].Scalar();
  const StageTypeInfo* type = registry.find_stage(type_name);
  if (!type) {
    std::string message = "unknown stage type '" + type_name + "'";
    const std::string hint = did_you_mean(type_name, registry.stage_type_names());
    if (!hint.empty()) message += " (did you mean '" + hint + "'?)";
    return Status::error(message);
  }
  std::unique_ptr<StageRunner> runner(new StageRunner());
  runner->type_ = type;
  runner->id_ = node["id"] && node["id"].IsScalar() ? node["id"].Scalar() : type_name;
  const std::string owner = "stage '" + runner->id_ + "' (" + type_name + ")";
  CheckedOptions checked = check_options_yaml(node["options"], type->options, owner, runner->id_ + ".yaml", registry);
  if (!checked.diagnostics.empty()) {
    std::string message;
    for (const Diagnostic& d : checked.diagnostics) message += (message.empty() ? "" : "\n") + d.to_string();
    return Status::error(message);
  }
  runner->options_ = std::move(checked.options);
  try {
    if (type->slots) runner->slots_ = type->slots(runner->options_);
  } catch (const std::exception& e) {
    return Status::error(owner + ": cannot declare its slots: " + exception_message(e));
  }
  runner->setup_ = std::move(setup);
  runner->registry_ = &registry;
  return runner;
}

StageRunner::~StageRunner() {
  if (opened_ && !closed_) (void)close();
}

Status StageRunner::open() {
  if (opened_) return Status::error("StageRunner: open() called twice");
  if (!type_->create) return Status::error("stage type '" + type_->type + "' has no factory");
  instance_ = type_->create();
  if (!instance_) return Status::error("stage type '" + type_->type + "' made no instance");
  StageContext ctx;
  ctx.stage_id = id_;
  ctx.stage_type = type_->type;
  ctx.options = options_;
  ctx.resources = setup_.resources;
  ctx.registry = registry_;
  ctx.output_dir = setup_.output_dir;
  ctx.base_dir = setup_.base_dir;
  ctx.threads = setup_.threads;
  ctx.output_layout = setup_.output_layout;
  Status status = instance_->open(ctx);
  opened_ = status.is_ok();
  return status;
}

Result<std::vector<ItemRef>> StageRunner::enumerate() {
  if (!opened_) return Status::error("StageRunner: enumerate() before a successful open()");
  if (!instance_->is_source()) return Status::error("stage type '" + type_->type + "' is not a source");
  return instance_->enumerate();
}

Status StageRunner::process(Item& item) {
  if (!opened_ || closed_) return Status::error("StageRunner: process() outside open() ... close()");
  Status status = instance_->process(item);
  if (!status) item.fail(id_, status.message());
  processed_.push_back({item.id(), item.index(), !item.failed(), item.outputs(), item.metrics()});
  return status;
}

Status StageRunner::close() {
  if (!opened_) return Status::error("StageRunner: close() before a successful open()");
  if (closed_) return Status::error("StageRunner: close() called twice");
  closed_ = true;
  CloseContext ctx;
  ctx.output_dir = setup_.output_dir;
  for (const Processed& p : processed_) ++(p.ok ? ctx.items_ok : ctx.items_failed);
  ctx.items_total = static_cast<std::int64_t>(processed_.size());
  ctx.run_outputs = &run_outputs_;
  ctx.shard_suffix = setup_.shard_suffix;
  ctx.for_each_ok_item = [this](const std::function<Status(const RecordedItem&)>& visit) -> Status {
    for (const Processed& p : processed_) {
      if (!p.ok) continue;
      LRPFLOW_RETURN_IF_ERROR(visit(RecordedItem{p.id, p.index, p.outputs, p.metrics}));
    }
    return Status::ok();
  };
  return instance_->close(ctx);
}

}  // namespace lrpflow
