// Test helpers: the Zennit reference fixtures in tests/fixtures/lrp (copied from ../shared so that
// tests never depend on it). A missing fixture file is a test failure, never a skip.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "lrpflow/lrp/graph.h"
#include "lrpflow/lrp/ruleset.h"
#include "lrpflow/status.h"

namespace lrpflow::lrp::testing {

std::string fixture_dir();
std::string config_dir();

// case.pt of a fixture case as key -> tensor (non-tensor entries are dropped; floats become 0-d
// tensors). Cached: each case is read once per process.
const std::map<std::string, at::Tensor>& load_case(const std::string& case_name);
// model_scripted.pt / model_traced.pt, imported once per process.
Result<std::shared_ptr<Model>> load_fixture_model(const std::string& case_name, const std::string& format);

// Rule set for a fixture method name ("epsilon_0.25" -> epsilon + epsilon.epsilon=0.25), bound to `model`.
Result<std::shared_ptr<RuleSet>> ruleset_for_method(const std::string& method, std::shared_ptr<const Model> model);

// max|a - b| / max|b| (0 when both are zero).
double relative_deviation(const at::Tensor& actual, const at::Tensor& reference);

// The LRP method names stored in every case.pt.
const std::vector<std::string>& lrp_methods();

}  // namespace lrpflow::lrp::testing
