// Fuzzes the TorchScript importer (load_torchscript_model) on mutated small models: the archive
// checks (zip structure, CRC-32 of every entry) come before LibTorch reads it, then the graph is
// mapped to layers. Seeds: the scripted fixture models.
#include "fuzz_support.h"
#include "lrpflow/lrp/model_import.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace lrpflow;
  const auto path = fuzz::write_scratch("model.pt", fuzz::as_text(data, size));
  auto model = lrp::load_torchscript_model(path);
  if (!model && model.status().message().empty()) fuzz::fail("an error without a message");
  return 0;
}
