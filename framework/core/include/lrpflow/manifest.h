// Manifest: the record of a run, DIR/manifest.json.
//
// It lists every item the run processed (id, source, index, status, error, output files, metrics,
// per-stage timings), the run-level outputs and per-stage timing, and identifies the run (pipeline
// file, hashes of the pipeline text and of the input list, lrpflow version, start and end time).
// The runtime rewrites it atomically every few seconds while it runs and once at the end, so a
// killed run still leaves a valid manifest of what was done; `--resume` reads it back and skips
// every item recorded as ok whose output files all still exist with the size recorded.
//
// Format (JSON, stable keys; "format": 1):
//   {"format": 1, "run": {...}, "configurations": [...], "items": [...], "run_outputs": {kind: [paths]},
//    "stages": [...]}
// Paths of outputs are relative to the manifest's directory; an item's "output_bytes" {path: size}
// records the size of each of its files when it was recorded. Paths read back are untrusted: every
// reader resolves them with resolve_inside() (files.h), which refuses any that leave the folder.
//
// Provenance: every item records the pipeline hash of the configuration (pipeline text plus --set
// overrides) that produced it, and "configurations" lists each configuration that produced an item
// of this manifest. A normal run has one; a `--resume --allow-changed-pipeline` run keeps the items
// of the older configuration and adds its own. A manifest written before items carried a hash
// reads as if every item came from run.pipeline_hash.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lrpflow/item.h"
#include "lrpflow/status.h"

namespace lrpflow {

inline constexpr int kManifestFormatVersion = 1;

struct ManifestItem {
  std::string id;
  std::string pipeline_hash;  // the configuration that produced this item (see ManifestConfiguration)
  std::string source;
  std::int64_t index = 0;
  bool ok = true;
  std::optional<ItemError> error;
  std::vector<OutputFile> outputs;
  // The size of each output file (by path) when the item was recorded; a file not listed (e.g. in
  // a manifest written before sizes were recorded) is only checked to exist.
  std::map<std::string, std::int64_t> output_bytes;
  std::map<std::string, double> metrics;
  std::map<std::string, double> timings_ms;  // stage id -> time spent in process()
};

struct StageStats {
  std::string id;
  std::string type;
  std::int64_t count = 0;  // items the stage processed (failed items that skipped it not counted)
  double mean_ms = 0;
  double p95_ms = 0;
};

struct ManifestRunInfo {
  std::string pipeline_file;
  std::string pipeline_hash;  // of the pipeline text plus the --set overrides (not --out or thread counts)
  std::string inputs_hash;    // of the source's whole item list (ids and sources, in order), also in a shard
  std::string lrpflow_version;
  std::string started_at;     // ISO 8601 UTC
  std::string finished_at;    // empty while running
  std::string state;          // "running", "complete", "stopped" (on_error: fail), "interrupted"
  int threads = 0;
  int max_in_flight = 0;
  std::int64_t items_total = 0;  // inputs listed by the source; of a shard: the shard's items
  // `--shard I/N`: this manifest (manifest.shard-I-of-N.json) records shard I of N. 0 of 1 for a
  // whole run and for the manifest `lrpflow merge` writes.
  std::int64_t shard_index = 0;
  std::int64_t shard_count = 1;
  // What a user must know about the run's results, e.g. a model whose weights are random
  // (ResourceContext::warnings); the report shows them on the run page.
  std::vector<std::string> warnings;
};

// One configuration that produced items of a manifest.
struct ManifestConfiguration {
  std::string pipeline_hash;
  std::string pipeline_file;
  std::vector<std::string> overrides;  // the --set values (and flags that act as one), as written
  std::string started_at;              // the start of the first run with this configuration
};

// A checkpoint's reference to the run's item log (item_log.h): its file name in the manifest's
// folder and the length that was durable when the checkpoint was written.
struct ManifestItemLog {
  std::string path;
  std::int64_t bytes = 0;
};

struct Manifest {
  ManifestRunInfo run;
  std::vector<ManifestConfiguration> configurations;  // run.pipeline_hash's first unless merged
  std::vector<ManifestItem> items;  // sorted by index when written
  std::vector<OutputFile> run_outputs;
  std::vector<StageStats> stages;
  // Set while a run is under way: the items are in this log, not in `items` (which the JSON form
  // then omits). read_manifest() reads the log back into `items` and clears this.
  std::optional<ManifestItemLog> items_log;
};

// Adds `configuration` unless one with its hash is listed (then keeps the earlier start time).
void add_configuration(Manifest& manifest, const ManifestConfiguration& configuration);
// How many items of `manifest` each configuration produced, by pipeline hash.
std::map<std::string, std::int64_t> items_per_configuration(const Manifest& manifest);

// Serialises / parses the JSON form.
std::string manifest_to_json(const Manifest& manifest);
// The JSON form with the items that `items` visits (in the order visited) in place of
// manifest.items, written piece by piece to `out`: a manifest of 100,000 items is never one string.
using ManifestItemSource = std::function<Status(const std::function<Status(const ManifestItem&)>&)>;
Status write_manifest_json(const Manifest& manifest, const ManifestItemSource& items,
                           const std::function<Status(std::string_view)>& out);
// One item as one line of JSON (the item log's form), and back; errors name `origin`.
std::string manifest_item_to_json_line(const ManifestItem& item);
Result<ManifestItem> manifest_item_from_json(std::string_view text, const std::string& origin,
                                             const std::string& default_pipeline_hash);
// The error names `origin` (the file) and what is wrong.
Result<Manifest> manifest_from_json(std::string_view json, const std::string& origin);

// DIR/manifest.json, written atomically (never half-written). Every file written before it is
// flushed to disk first (flush_written_files()), so whatever it lists is durable; then the
// manifest itself.
Status write_manifest(const std::filesystem::path& path, const Manifest& manifest);
// The same, with the items `items` visits instead of manifest.items (the run's final manifest,
// streamed from its item log).
Status write_manifest(const std::filesystem::path& path, const Manifest& manifest, const ManifestItemSource& items);
// Reads the manifest and, in checkpoint form, the items of its item log (a file name in the
// manifest's folder; anything else is refused, naming the manifest).
Result<Manifest> read_manifest(const std::filesystem::path& path);

// Ok when every output the item recorded lies inside `output_dir` (resolve_inside()), exists as a
// file and, when its size was recorded, still has that size (so the item can be skipped on
// --resume). The error names the first output that is not so, and why.
Status check_outputs(const ManifestItem& item, const std::filesystem::path& output_dir);
inline bool outputs_exist(const ManifestItem& item, const std::filesystem::path& output_dir) {
  return check_outputs(item, output_dir).is_ok();
}

// Ok when every path the manifest lists (items' outputs and run outputs) lies inside
// `output_dir`; the error names `origin` (the manifest file), the entry and what is wrong.
Status check_manifest_paths(const Manifest& manifest, const std::filesystem::path& output_dir, const std::string& origin);

// Fills item.output_bytes with the size of each of its outputs as it is now under `output_dir`
// (a file that is not there gets no size).
void record_output_sizes(ManifestItem& item, const std::filesystem::path& output_dir);

// 64-bit FNV-1a as "fnv1a64:<16 hex digits>": a cheap fingerprint (not a security hash).
std::string fingerprint(std::string_view bytes);

// The version of this lrpflow build, e.g. "0.1.0".
const char* lrpflow_version();

// Current UTC time as ISO 8601, e.g. "2024-05-01T12:00:00Z".
std::string utc_timestamp();

}  // namespace lrpflow
