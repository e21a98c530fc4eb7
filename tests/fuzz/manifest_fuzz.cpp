// Fuzzes manifest reading (manifest_from_json, what `--resume`, `report` and `merge` read).
// Property: a manifest that parses serialises to JSON that parses again to the same JSON.
#include "fuzz_support.h"
#include "lrpflow/manifest.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace lrpflow;
  auto manifest = manifest_from_json(fuzz::as_text(data, size), "fuzz/manifest.json");
  if (!manifest) {
    if (manifest.status().message().empty()) fuzz::fail("an error without a message");
    return 0;
  }
  (void)items_per_configuration(manifest.value());
  const std::string json = manifest_to_json(manifest.value());
  auto again = manifest_from_json(json, "fuzz/manifest.json (written again)");
  if (!again) fuzz::fail("a manifest written by manifest_to_json does not parse: " + again.status().message());
  if (manifest_to_json(again.value()) != json) fuzz::fail("a manifest does not survive writing and reading");
  return 0;
}
