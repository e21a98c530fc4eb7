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
#include "lrpflow/stage_runner.h"

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

// A stage opened through the framework's StageRunner, as the host opens it: the options checked
// by the pipeline's code (defaults, ranges), the model under the resource name "model".
struct OpenedStage {
  std::unique_ptr<StageRunner> runner;
  Status open_status;
  std::shared_ptr<ResourceSet> resources;
  StageRunner* operator->() { return runner.get(); }
};

inline OpenedStage open_stage(const std::string& type_name, std::shared_ptr<const lrp::Model> model,
                              const std::map<std::string, OptionValue>& values,
                              const std::filesystem::path& output_dir = {}) {
  OpenedStage stage;
  stage.resources = std::make_shared<ResourceSet>();
  stage.resources->add("model", std::move(model));
  std::string yaml = "type: " + type_name + "\noptions:";
  if (values.empty()) yaml += " {}";
  for (const auto& [name, value] : values) yaml += "\n  " + name + ": " + format_option_value(value);
  StageRunnerSetup setup;
  setup.resources = stage.resources.get();
  setup.output_dir = output_dir;
  auto runner = StageRunner::create(eval_plugins(), yaml + "\n", setup);
  if (!runner) {
    stage.open_status = runner.status();
    return stage;
  }
  stage.runner = std::move(runner.value());
  stage.open_status = stage.runner->open();
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

using TempDir = lrpflow::testing::TempDir;

}  // namespace lrpflow::eval::testing
