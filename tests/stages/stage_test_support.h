// Helpers for the stage unit tests: one stage built from its YAML through the framework's
// StageRunner with the plugins as the host loads them, the model and rule set resources, and
// hand-made items (a forward pass, an explanation, a selection) to feed it.
#pragma once

#include <gtest/gtest.h>

#include <any>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include "../common/temp_dir.h"
#include "builtin_rules.h"
#include "fixture_support.h"
#include "lrpflow/lrp/graph.h"
#include "lrpflow/lrp/ruleset.h"
#include "lrpflow/lrp/slots.h"
#include "lrpflow/registry.h"
#include "lrpflow/selection/selection.h"
#include "lrpflow/stage_runner.h"

namespace lrpflow::testing {

// Every built plugin, loaded from the build's plugin folder once per process.
inline const PluginRegistry& stage_plugins() {
  static const PluginRegistry* registry = [] {
    auto* r = new PluginRegistry();
    r->load_directories({LRPFLOW_TEST_PLUGIN_DIR});
    return r;
  }();
  return *registry;
}

// configs/rulesets/epsilon.yaml (LRP-epsilon on every Conv2d and Linear) with this epsilon, bound to `model`.
inline std::shared_ptr<const lrp::RuleSet> epsilon_rules(std::shared_ptr<const lrp::Model> model, const std::string& epsilon) {
  auto spec = lrp::load_ruleset_file(lrp::testing::config_dir() + "/rulesets/epsilon.yaml");
  if (!spec) {
    ADD_FAILURE() << spec.status().message();
    return nullptr;
  }
  const Status set = lrp::add_param_override(spec.value(), "epsilon.epsilon=" + epsilon);
  if (!set) ADD_FAILURE() << set.message();
  auto rules = lrp::RuleSet::bind(spec.value(), std::move(model), lrp::builtin_rule_catalog());
  if (!rules) {
    ADD_FAILURE() << rules.status().message();
    return nullptr;
  }
  return rules.value();
}

// The resources under the names the stages use by default: `model`, and `rules` when given.
// The tiny_cnn fixture's scripted model (a failed load fails the test and gives null).
inline std::shared_ptr<const lrp::Model> tiny_cnn() {
  auto model = lrp::testing::load_fixture_model("tiny_cnn", "scripted");
  EXPECT_TRUE(model) << model.status().message();
  return model ? model.value() : nullptr;
}

inline std::shared_ptr<ResourceSet> resources_for(std::shared_ptr<const lrp::Model> model,
                                                  std::shared_ptr<const lrp::RuleSet> rules = nullptr) {
  auto set = std::make_shared<ResourceSet>();
  set->add("model", std::move(model));
  if (rules) set->add("rules", std::move(rules));
  return set;
}

// A stage created from its YAML and opened; `status` is the first failure (create or open).
struct OpenedStage {
  std::shared_ptr<ResourceSet> resources;
  std::unique_ptr<StageRunner> runner;
  Status status;
  StageRunner* operator->() { return runner.get(); }
};

inline OpenedStage open_stage(std::string_view yaml, std::shared_ptr<ResourceSet> resources,
                              const std::filesystem::path& output_dir = {}) {
  OpenedStage stage;
  stage.resources = resources ? std::move(resources) : std::make_shared<ResourceSet>();
  StageRunnerSetup setup;
  setup.resources = stage.resources.get();
  setup.output_dir = output_dir;
  auto runner = StageRunner::create(stage_plugins(), yaml, setup);
  if (!runner) {
    stage.status = runner.status();
    return stage;
  }
  stage.runner = std::move(runner.value());
  stage.status = stage.runner->open();
  return stage;
}

// The message of a stage that must not open.
inline std::string open_error(std::string_view yaml, std::shared_ptr<ResourceSet> resources) {
  OpenedStage stage = open_stage(yaml, std::move(resources));
  EXPECT_FALSE(stage.status.is_ok()) << yaml;
  return stage.status.message();
}

// The model's forward pass on `input`, as the forward stage leaves it in the `activations` slot.
inline lrp::SharedActivations forward_pass(const lrp::Model& model, const at::Tensor& input) {
  at::NoGradGuard no_grad;
  auto acts = model.forward(input);
  if (!acts) {
    ADD_FAILURE() << acts.status().message();
    return nullptr;
  }
  return std::make_shared<const lrp::Activations>(std::move(acts).value());
}

inline void set_activations(Item& item, lrp::SharedActivations acts) { item.set(lrp::kActivationsSlot, std::any(std::move(acts))); }
inline void set_explanation(Item& item, std::shared_ptr<const lrp::Explanation> e) {
  item.set(lrp::kExplanationSlot, std::any(lrp::SharedExplanation(std::move(e))));
}

// Linear -> ReLU -> Linear -> ReLU -> Linear, layers fc1, relu1, fc2, relu2, fc3, with seeded
// random weights: a model whose every quantity a test can compute by hand.
struct Mlp {
  std::shared_ptr<const lrp::Model> model;
  std::vector<at::Tensor> weight, bias;  // of fc1, fc2, fc3
  // Logits with, in fc1 and fc2, the neurons whose mask entry is 0 set to zero (undefined: all kept).
  at::Tensor logits(const at::Tensor& x, const at::Tensor& mask1 = {}, const at::Tensor& mask2 = {}) const {
    at::Tensor h1 = at::relu(at::linear(x, weight[0], bias[0]));
    if (mask1.defined()) h1 = h1 * mask1;
    at::Tensor h2 = at::relu(at::linear(h1, weight[1], bias[1]));
    if (mask2.defined()) h2 = h2 * mask2;
    return at::linear(h2, weight[2], bias[2]);
  }
};

inline Mlp make_mlp(std::vector<int64_t> sizes, uint64_t seed) {
  at::Generator generator = at::detail::createCPUGenerator(seed);
  Mlp mlp;
  std::vector<lrp::Layer> layers;
  for (size_t k = 0; k + 1 < sizes.size(); ++k) {
    mlp.weight.push_back(at::randn({sizes[k + 1], sizes[k]}, generator, at::kFloat));
    mlp.bias.push_back(0.1 * at::randn({sizes[k + 1]}, generator, at::kFloat));
    lrp::Layer linear;
    linear.name = "fc" + std::to_string(k + 1);
    linear.kind = lrp::LayerKind::Linear;
    linear.inputs = {layers.empty() ? lrp::kModelInput : static_cast<int>(layers.size()) - 1};
    linear.weight = mlp.weight.back();
    linear.bias = mlp.bias.back();
    layers.push_back(linear);
    if (k + 2 < sizes.size()) {
      lrp::Layer relu;
      relu.name = "relu" + std::to_string(k + 1);
      relu.kind = lrp::LayerKind::ReLU;
      relu.inputs = {static_cast<int>(layers.size()) - 1};
      layers.push_back(relu);
    }
  }
  auto model = lrp::Model::create(std::move(layers), {sizes[0]}, "mlp test model");
  if (!model) ADD_FAILURE() << model.status().message();
  if (model) mlp.model = model.value();
  return mlp;
}

inline LayerSelection layer_selection(const std::string& layer, int64_t size, std::vector<int64_t> neurons) {
  LayerSelection s;
  s.layer = layer;
  s.layer_size = size;
  s.neurons = std::move(neurons);
  s.scores.assign(s.neurons.size(), 1.0);
  return s;
}

// 0/1 mask of `size` entries with ones at `neurons`.
inline at::Tensor neuron_mask(int64_t size, const std::vector<int64_t>& neurons) {
  at::Tensor mask = at::zeros({size});
  for (int64_t n : neurons) mask[n] = 1;
  return mask;
}

// `values` as a vector of doubles.
inline std::vector<double> to_doubles(const at::Tensor& values) {
  const at::Tensor v = values.to(at::kDouble).contiguous().reshape({-1});
  return {v.data_ptr<double>(), v.data_ptr<double>() + v.numel()};
}

inline std::vector<int64_t> to_longs(const at::Tensor& values) {
  const at::Tensor v = values.to(at::kLong).contiguous().reshape({-1});
  return {v.data_ptr<int64_t>(), v.data_ptr<int64_t>() + v.numel()};
}

}  // namespace lrpflow::testing
