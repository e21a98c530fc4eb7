// Fuzzes model sidecars (<model>.yaml beside a TorchScript .pt, like models/*.yaml): what
// `lrpflow explain` and the model resource read from them (read_model_sidecar), and the class names
// as load_labels reads them. Property: a sidecar never fails, it only skips what it cannot read.
#include "fuzz_support.h"
#include "lrpflow/labels.h"
#include "lrpflow/model_sidecar.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace lrpflow;
  const auto path = fuzz::write_scratch("model.yaml", fuzz::as_text(data, size));
  const ModelSidecar sidecar = read_model_sidecar(fuzz::scratch_dir() / "model.pt");
  if (sidecar.file != path) fuzz::fail("read_model_sidecar did not read " + path.string());
  for (const std::string& problem : sidecar.problems)
    if (problem.rfind(path.string(), 0) != 0) fuzz::fail("a sidecar problem that does not name the file: " + problem);
  auto labels = load_labels(path);
  if (!labels && labels.status().message().empty()) fuzz::fail("an error without a message");
  return 0;
}
