#include "fixture_support.h"

#include <filesystem>
#include <fstream>
#include <mutex>

#include <torch/serialize.h>

#include "builtin_rules.h"
#include "lrpflow/lrp/model_import.h"

namespace lrpflow::lrp::testing {

std::string fixture_dir() { return LRPFLOW_LRP_FIXTURE_DIR; }
std::string config_dir() { return LRPFLOW_CONFIG_DIR; }

const std::map<std::string, at::Tensor>& load_case(const std::string& case_name) {
  static std::mutex mutex;
  static std::map<std::string, std::map<std::string, at::Tensor>> cache;
  std::lock_guard<std::mutex> lock(mutex);
  auto it = cache.find(case_name);
  if (it != cache.end()) return it->second;
  auto& entries = cache[case_name];
  const std::string path = fixture_dir() + "/" + case_name + "/case.pt";
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("missing fixture file " + path);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  c10::IValue value = torch::pickle_load(bytes);
  for (const auto& entry : value.toGenericDict()) {
    const std::string key = entry.key().toStringRef();
    if (entry.value().isTensor()) entries[key] = entry.value().toTensor();
    else if (entry.value().isDouble()) entries[key] = at::scalar_tensor(entry.value().toDouble(), at::kDouble);
  }
  return entries;
}

Result<std::shared_ptr<Model>> load_fixture_model(const std::string& case_name, const std::string& format) {
  static std::mutex mutex;
  static std::map<std::string, std::shared_ptr<Model>> cache;
  std::lock_guard<std::mutex> lock(mutex);
  const std::string key = case_name + "/" + format;
  auto it = cache.find(key);
  if (it != cache.end()) return it->second;
  const std::string path = fixture_dir() + "/" + case_name + "/model_" + format + ".pt";
  if (!std::filesystem::exists(path)) return Status::error("missing fixture file " + path);
  const at::Tensor& input = load_case(case_name).at("input");
  ModelLoadOptions options;
  options.input_shape.assign(input.sizes().begin() + 1, input.sizes().end());
  auto model = load_torchscript_model(path, options);
  if (model) cache[key] = model.value();
  return model;
}

Result<std::shared_ptr<RuleSet>> ruleset_for_method(const std::string& method, std::shared_ptr<const Model> model) {
  std::string name = method;
  std::vector<std::string> overrides;
  if (method == "epsilon_0.25") {
    name = "epsilon";
    overrides.push_back("epsilon.epsilon=0.25");
  } else if (method == "gamma_0.25") {
    name = "gamma";
    overrides.push_back("gamma.gamma=0.25");
  }
  auto spec = load_ruleset_file(config_dir() + "/rulesets/" + name + ".yaml");
  if (!spec) return spec.status();
  for (const auto& o : overrides) {
    Status status = add_param_override(spec.value(), o);
    if (!status) return status;
  }
  return RuleSet::bind(spec.value(), std::move(model), builtin_rule_catalog());
}

double relative_deviation(const at::Tensor& actual, const at::Tensor& reference) {
  at::Tensor a = actual.to(at::kDouble), r = reference.to(at::kDouble);
  const double scale = r.abs().max().item<double>();
  const double diff = (a - r).abs().max().item<double>();
  if (scale == 0.0) return diff;
  return diff / scale;
}

const std::vector<std::string>& lrp_methods() {
  static const std::vector<std::string> methods = {"epsilon",    "epsilon_0.25",      "zplus",
                                                   "alpha2beta1", "gamma_0.25",       "epsilon_plus_flat",
                                                   "epsilon_gamma_box", "epsilon_alpha2_beta1"};
  return methods;
}

}  // namespace lrpflow::lrp::testing
