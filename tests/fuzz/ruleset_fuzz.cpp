// Fuzzes rule set YAML: parse_ruleset, then (when it parses) binding to the tiny_cnn model with the
// rules of every built plugin, which checks rule names, parameters and layer matches.
#include "fuzz_support.h"
#include "lrpflow/lrp/model_import.h"
#include "lrpflow/lrp/ruleset.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace lrpflow;
  static const std::shared_ptr<const lrp::Model> model = [] {
    auto loaded = lrp::load_model(LRPFLOW_FUZZ_SOURCE_DIR "/configs/models/tiny_cnn.yaml");
    if (!loaded) fuzz::fail(loaded.status().message());
    return std::shared_ptr<const lrp::Model>(loaded.value());
  }();
  auto spec = lrp::parse_ruleset(std::string(fuzz::as_text(data, size)), "fuzz.yaml");
  if (!spec) {
    if (spec.status().message().empty()) fuzz::fail("an error without a message");
    return 0;
  }
  auto bound = lrp::RuleSet::bind(spec.value(), model, lrp::rule_types(fuzz::built_plugins()));
  if (bound) (void)bound.value()->describe();
  return 0;
}
