// Fuzzes pipeline YAML: parse_pipeline with the registry of every built plugin, so that option
// schemas, slot checks and the stage graph are checked as `lrpflow validate` checks them.
// Property: a pipeline comes back exactly when there are no diagnostics, and every diagnostic
// has a message.
#include "fuzz_support.h"
#include "lrpflow/pipeline.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace lrpflow;
  const PipelineLoad load =
      parse_pipeline(fuzz::as_text(data, size), fuzz::scratch_dir() / "fuzz.yaml", {}, fuzz::built_plugins());
  if (load.pipeline.has_value() == !load.diagnostics.empty()) fuzz::fail("a pipeline together with diagnostics, or neither");
  for (const Diagnostic& d : load.diagnostics)
    if (d.message.empty()) fuzz::fail("a diagnostic without a message: " + d.to_string());
  return 0;
}
