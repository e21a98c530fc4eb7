// Merging the manifests of a sharded run (`lrpflow merge DIR`, and rank 0 of `run --mpi`).
//
// The shards of one run write into one directory: item outputs under their own names, one
// manifest.shard-I-of-N.json each, and run-level files with a ".shard-I-of-N" suffix (see
// CloseContext::shard_suffix). merge_shards() checks that the set is whole and consistent, then
// builds the manifest of the whole run:
//   - items: the union of the shards' items (their indices are positions in the whole input list);
//   - run: pipeline and input hashes (equal in every shard), earliest start, latest finish,
//     items_total = the sum over shards;
//   - stages: count = sum; mean_ms = count-weighted mean; p95_ms = the largest shard p95 (shards
//     keep no samples, so this is an upper bound of the true p95, exact with one shard);
//   - run-level CSVs whose rows are means over items (the kinds stage types declare in
//     StageTypeInfo::mean_csv_outputs, e.g. the fidelity stage's fidelity_csv): one file without
//     the shard suffix, each value column the mean weighted by the `items` column; other
//     run-level files (e.g. the per-shard fidelity plot) are listed as they are.
// It is not thread-safe per directory; call it once the shards have finished.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "lrpflow/manifest.h"
#include "lrpflow/stage.h"
#include "lrpflow/status.h"

namespace lrpflow {

class PluginRegistry;

struct MergeOptions {
  // Run-level output kinds merged as mean CSVs -> the columns that identify a row
  // (mean_csv_keys(registry) collects what the loaded stage types declare).
  std::map<std::string, std::vector<std::string>> mean_csv_keys;
  // Shards to expect; 0: the N of the shard manifests found (an error when they disagree).
  std::int64_t shard_count = 0;
  // For `run --mpi`: a shard whose manifest is missing or not complete does not stop the merge;
  // its items that no manifest records are recorded as errors "rank R failed: <why>", taken from
  // `all_inputs` (the whole input list) and `shard_failures` (R -> what rank R reported).
  bool tolerate_failed_shards = false;
  std::vector<ItemRef> all_inputs;
  std::map<std::int64_t, std::string> shard_failures;
};

struct MergeResult {
  Manifest manifest;                  // already written to DIR/manifest.json
  std::vector<std::string> warnings;  // what was tolerated or not combined
  std::int64_t items_failed = 0;
};

// Reads DIR/manifest.shard-*-of-*.json, writes DIR/manifest.json and the merged run-level CSVs.
// Errors name the missing shard, the incomplete shard and its state, or the two manifests that
// disagree on the pipeline or the inputs.
Result<MergeResult> merge_shards(const std::filesystem::path& dir, const MergeOptions& options = {});

// The mean CSV kinds and their key columns that the registry's stage types declare.
std::map<std::string, std::vector<std::string>> mean_csv_keys(const PluginRegistry& registry);

}  // namespace lrpflow
