// Shards: a deterministic partition of a run's inputs over several processes or nodes.
//
// Shard I of N (0 <= I < N) takes the items whose position k in the source's input list has
// k mod N == I. The input list is sorted and deterministic, so the same inputs always give the
// same shards, every item is in exactly one shard, and any N >= 1 works (a shard may be empty when
// N exceeds the number of items). Round-robin rather than contiguous blocks, so that inputs sorted
// by size or class spread evenly.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "lrpflow/status.h"

namespace lrpflow {

struct Shard {
  std::int64_t index = 0;  // I
  std::int64_t count = 1;  // N
  std::string source;      // where I and N came from ("--shard 2/8", "SLURM_ARRAY_TASK_ID/...")

  bool contains(std::int64_t position) const { return position % count == index; }
  bool is_whole() const { return count == 1; }
  // "" for a whole run, ".shard-I-of-N" for a shard: the one spelling of what tells a shard's files
  // (manifest, lock, run-level outputs) from the other shards' in a shared folder.
  std::string suffix() const;
  // "manifest.json" for a whole run, "manifest.shard-I-of-N.json" for a shard.
  std::string manifest_name() const;
};

// Reads an environment variable; tests pass their own.
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;
EnvLookup process_environment();

// Parses `--shard` values: "I/N" (0-based I), "auto" (I and N from the scheduler's environment:
// Slurm array, Kubernetes Indexed Job with LRPFLOW_SHARD_COUNT, Open MPI, PMI) or "auto/N" (I from
// the environment, N given, e.g. for a Kubernetes Indexed Job). Errors say what is wrong.
Result<Shard> parse_shard(const std::string& text, const EnvLookup& env = process_environment());

}  // namespace lrpflow
