// Fuzzes the reading of shard manifests by `lrpflow merge` (merge_shards). The input's first line is
// a --shard value for parse_shard (with an empty environment); the rest is manifest.shard-0-of-1.json
// of a fresh run folder, up to a line "CSV", after which comes fidelity.shard-0-of-1.csv (a
// run-level CSV the merge combines).
#include <optional>

#include "lrpflow/shard_merge.h"
#include "fuzz_support.h"
#include "lrpflow/shard.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace lrpflow;
  const std::string_view text = fuzz::as_text(data, size);
  const std::size_t newline = text.find('\n');
  const std::string first_line(text.substr(0, newline));
  auto shard = parse_shard(first_line, [](const std::string&) { return std::optional<std::string>(); });
  if (shard && (shard.value().count < 1 || shard.value().index < 0 || shard.value().index >= shard.value().count))
    fuzz::fail("parse_shard accepted shard " + std::to_string(shard.value().index) + "/" + std::to_string(shard.value().count));

  const std::filesystem::path dir = fuzz::scratch_dir() / "run";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::string_view rest = newline == std::string_view::npos ? std::string_view() : text.substr(newline + 1);
  const std::size_t csv = rest.find("\nCSV\n");
  fuzz::write_scratch("run/manifest.shard-0-of-1.json", rest.substr(0, csv));
  if (csv != std::string_view::npos) fuzz::write_scratch("run/fidelity.shard-0-of-1.csv", rest.substr(csv + 5));
  MergeOptions options;
  options.mean_csv_keys = {{"fidelity_csv", {"layer", "selector", "k", "n"}}};
  auto merged = merge_shards(dir, options);
  if (!merged && merged.status().message().empty()) fuzz::fail("an error without a message");
  return 0;
}
