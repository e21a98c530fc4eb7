// Helpers for the evaluation tests: the baselines and faithfulness plugins loaded through their real
// entry points, stages opened with the host's option defaults, and small hand-made models.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "../common/temp_dir.h"
#include "lrpflow/lrp/graph.h"
#include "lrpflow/registry.h"

namespace lrpflow::eval::testing {

inline const PluginRegistry& eval_plugins() {
  static const std::unique_ptr<PluginRegistry> registry = [] {
    auto r = std::make_unique<PluginRegistry>();
    for (const char* file : {LRPFLOW_BASELINES_PLUGIN, LRPFLOW_FAITHFULNESS_PLUGIN}) {
      const Status status = r->load_library(file);
      if (!status) ADD_FAILURE() << "cannot load " << file << ": " << status.message();
    }
    return r;
  }();
  return *registry;
}

// A stage opened as the host opens it: declared defaults overridden by `values`, the model under
// the resource name "model".
struct OpenedStage {
  std::unique_ptr<StageInstance> instance;
  Status open_status;
  std::shared_ptr<ResourceSet> resources;
  StageInstance* operator->() { return instance.get(); }
};

inline OpenedStage open_stage(const std::string& type_name, std::shared_ptr<const lrp::Model> model,
                              const std::map<std::string, OptionValue>& values,
                              const std::filesystem::path& output_dir = {}) {
  OpenedStage stage;
  const StageTypeInfo* type = eval_plugins().find_stage(type_name);
  if (!type) {
    ADD_FAILURE() << "no stage type " << type_name;
    stage.open_status = Status::error("no stage type");
    return stage;
  }
  std::map<std::string, OptionValue> all;
  for (const OptionSpec& spec : type->options)
    if (!std::holds_alternative<std::monostate>(spec.default_value)) all[spec.name] = spec.default_value;
  for (const auto& [name, value] : values) {
    const OptionSpec* declared = nullptr;
    for (const OptionSpec& spec : type->options)
      if (spec.name == name) declared = &spec;
    EXPECT_TRUE(declared) << type_name << " declares no option '" << name << "'";
    // The host checks a value against its declared range before open() (pipeline.cpp).
    if (declared && std::holds_alternative<std::int64_t>(value)) {
      const Status in_range = check_int_range(std::get<std::int64_t>(value), *declared);
      if (!in_range) {
        stage.open_status = Status::error("option " + name + ": " + in_range.message());
        return stage;
      }
    }
    all[name] = value;
  }
  stage.resources = std::make_shared<ResourceSet>();
  stage.resources->add("model", std::move(model));
  StageContext ctx;
  ctx.stage_id = "test_" + type_name;
  ctx.stage_type = type_name;
  ctx.options = Options(std::move(all));
  ctx.resources = stage.resources.get();
  ctx.output_dir = output_dir;
  stage.instance = type->create();
  stage.open_status = stage.instance->open(ctx);
  return stage;
}

// Flatten + Linear: logits = W x + b, with W [classes, C*H*W].
inline std::shared_ptr<const lrp::Model> linear_model(const at::Tensor& weight, const at::Tensor& bias,
                                                      std::vector<int64_t> input_shape) {
  lrp::Layer flatten;
  flatten.name = "flatten";
  flatten.kind = lrp::LayerKind::Flatten;
  flatten.inputs = {lrp::kModelInput};
  lrp::Layer linear;
  linear.name = "fc";
  linear.kind = lrp::LayerKind::Linear;
  linear.inputs = {0};
  linear.weight = weight.to(at::kFloat);
  linear.bias = bias.to(at::kFloat);
  auto model = lrp::Model::create({flatten, linear}, std::move(input_shape), "linear test model");
  if (!model) ADD_FAILURE() << model.status().message();
  return model ? model.value() : nullptr;
}

using TempDir = lrpflow::test_common::TempDir;

}  // namespace lrpflow::eval::testing
