// merge_shards() (lrpflow/shard_merge.h) on hand-made shard folders: what the whole run's manifest
// holds, how stage timings and mean CSVs combine, and the sets of shards it refuses.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "../common/temp_dir.h"
#include "lrpflow/csv.h"
#include "lrpflow/files.h"
#include "lrpflow/manifest.h"
#include "lrpflow/shard_merge.h"

namespace lrpflow {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

// Shard `index` of `count` over the items whose position modulo count is index, with one stage and
// a per-shard mean CSV whose rows are (layer, k) -> (mse, items).
Manifest shard_manifest(std::int64_t index, std::int64_t count, const std::vector<std::string>& ids) {
  Manifest m;
  m.run.pipeline_file = "p.yaml";
  m.run.pipeline_hash = "hash-p";
  m.run.inputs_hash = "hash-in";
  m.run.state = "complete";
  m.run.started_at = "2026-01-0" + std::to_string(index + 1) + "T00:00:00Z";
  m.run.finished_at = "2026-02-0" + std::to_string(index + 1) + "T00:00:00Z";
  m.run.shard_index = index;
  m.run.shard_count = count;
  for (std::size_t k = 0; k < ids.size(); ++k) {
    if (static_cast<std::int64_t>(k) % count != index) continue;
    ManifestItem item;
    item.id = ids[k];
    item.source = ids[k] + ".png";
    item.index = static_cast<std::int64_t>(k);
    item.pipeline_hash = m.run.pipeline_hash;
    m.items.push_back(item);
    ++m.run.items_total;
  }
  return m;
}

void write_shard(const fs::path& dir, const Manifest& m) {
  const std::string suffix = ".shard-" + std::to_string(m.run.shard_index) + "-of-" + std::to_string(m.run.shard_count);
  ASSERT_TRUE(write_manifest(dir / ("manifest" + suffix + ".json"), m).is_ok());
}

MergeOptions with_mean_csv() {
  MergeOptions options;
  options.mean_csv_keys = {{"sweep_csv", {"layer", "k"}}};
  return options;
}

TEST(ShardMerge, UnionOfItemsSummedTotalsAndCountWeightedStageTimes) {
  TempDir dir;
  const std::vector<std::string> ids = {"a", "b", "c", "d", "e"};
  Manifest first = shard_manifest(0, 2, ids), second = shard_manifest(1, 2, ids);
  first.stages = {{"lrp", "lrp", 3, 10.0, 12.0}};
  second.stages = {{"lrp", "lrp", 1, 30.0, 40.0}, {"save", "npy_writer", 1, 1.0, 1.0}};
  second.items[0].ok = false;
  second.items[0].error = ItemError{"lrp", "broken"};
  write_shard(dir.path(), first);
  write_shard(dir.path(), second);

  auto merged = merge_shards(dir.path());
  ASSERT_TRUE(merged) << merged.status().message();
  const Manifest& m = merged.value().manifest;
  EXPECT_EQ(m.items.size(), 5u);
  EXPECT_EQ(m.run.items_total, 5);
  EXPECT_EQ(merged.value().items_failed, 1);
  EXPECT_EQ(m.run.shard_count, 1);
  EXPECT_EQ(m.run.state, "complete");
  EXPECT_EQ(m.run.started_at, "2026-01-01T00:00:00Z");   // the earliest start
  EXPECT_EQ(m.run.finished_at, "2026-02-02T00:00:00Z");  // the latest finish
  ASSERT_EQ(m.stages.size(), 2u);
  EXPECT_EQ(m.stages[0].count, 4);
  EXPECT_DOUBLE_EQ(m.stages[0].mean_ms, (3 * 10.0 + 1 * 30.0) / 4);
  EXPECT_DOUBLE_EQ(m.stages[0].p95_ms, 40.0);  // the largest shard p95, an upper bound
  // What was written is what was returned.
  auto written = read_manifest(dir.path() / "manifest.json");
  ASSERT_TRUE(written) << written.status().message();
  EXPECT_EQ(written.value().items.size(), 5u);
}

TEST(ShardMerge, DeclaredMeanCsvsAreAveragedWeightedByItemsOthersListedAsWritten) {
  TempDir dir;
  const std::vector<std::string> ids = {"a", "b", "c"};
  Manifest first = shard_manifest(0, 2, ids), second = shard_manifest(1, 2, ids);
  ASSERT_TRUE(write_file_atomic(dir.path() / "sweep.shard-0-of-2.csv", "layer,k,mse,items\nf.0,1,0.5,2\nf.0,2,0.25,2\n").is_ok());
  ASSERT_TRUE(write_file_atomic(dir.path() / "sweep.shard-1-of-2.csv", "layer,k,mse,items\nf.0,1,2,1\nf.3,1,4,1\n").is_ok());
  ASSERT_TRUE(write_file_atomic(dir.path() / "plot.shard-0-of-2.svg", "<svg/>").is_ok());
  first.run_outputs = {{"sweep_csv", "sweep.shard-0-of-2.csv"}, {"plot", "plot.shard-0-of-2.svg"}};
  second.run_outputs = {{"sweep_csv", "sweep.shard-1-of-2.csv"}};
  write_shard(dir.path(), first);
  write_shard(dir.path(), second);

  auto merged = merge_shards(dir.path(), with_mean_csv());
  ASSERT_TRUE(merged) << merged.status().message();
  auto text = read_file(dir.path() / "sweep.csv");
  ASSERT_TRUE(text) << text.status().message();
  auto table = parse_csv_table(text.value(), "sweep.csv");
  ASSERT_TRUE(table) << table.status().message();
  ASSERT_EQ(table.value().rows.size(), 3u);
  // (f.0, 1): (0.5 * 2 + 2 * 1) / 3 = 1 over 3 items; rows only one shard has keep their values.
  EXPECT_EQ(table.value().rows[0], (CsvRow{"f.0", "1", "1", "3"}));
  EXPECT_EQ(table.value().rows[1], (CsvRow{"f.0", "2", "0.25", "2"}));
  EXPECT_EQ(table.value().rows[2], (CsvRow{"f.3", "1", "4", "1"}));
  std::vector<OutputFile> expected = {{"plot", "plot.shard-0-of-2.svg"}, {"sweep_csv", "sweep.csv"}};
  EXPECT_EQ(merged.value().manifest.run_outputs.size(), expected.size());
  for (std::size_t i = 0; i < expected.size() && i < merged.value().manifest.run_outputs.size(); ++i) {
    EXPECT_EQ(merged.value().manifest.run_outputs[i].kind, expected[i].kind);
    EXPECT_EQ(merged.value().manifest.run_outputs[i].path, expected[i].path);
  }

  // Without the declaration the CSVs are only listed, per shard: the core knows no kind by name.
  TempDir plain;
  for (const char* name : {"sweep.shard-0-of-2.csv", "sweep.shard-1-of-2.csv", "plot.shard-0-of-2.svg"})
    fs::copy_file(dir.path() / name, plain.path() / name);
  write_shard(plain.path(), first);
  write_shard(plain.path(), second);
  auto listed = merge_shards(plain.path());
  ASSERT_TRUE(listed) << listed.status().message();
  EXPECT_EQ(listed.value().manifest.run_outputs.size(), 3u);
  EXPECT_FALSE(fs::exists(plain.path() / "sweep.csv"));
}

TEST(ShardMerge, RefusesMissingIncompleteAndMixedShards) {
  const std::vector<std::string> ids = {"a", "b", "c", "d"};
  {
    TempDir dir;
    write_shard(dir.path(), shard_manifest(0, 2, ids));
    auto merged = merge_shards(dir.path());
    ASSERT_FALSE(merged);
    EXPECT_NE(merged.status().message().find("shard 1/2 is missing"), std::string::npos) << merged.status().message();
  }
  {
    TempDir dir;
    Manifest running = shard_manifest(1, 2, ids);
    running.run.state = "running";
    write_shard(dir.path(), shard_manifest(0, 2, ids));
    write_shard(dir.path(), running);
    auto merged = merge_shards(dir.path());
    ASSERT_FALSE(merged);
    EXPECT_NE(merged.status().message().find("shard 1/2 is not complete"), std::string::npos) << merged.status().message();
    EXPECT_NE(merged.status().message().find("--resume"), std::string::npos) << merged.status().message();
  }
  {
    TempDir dir;
    Manifest other = shard_manifest(1, 2, ids);
    other.run.pipeline_hash = "hash-q";
    write_shard(dir.path(), shard_manifest(0, 2, ids));
    write_shard(dir.path(), other);
    auto merged = merge_shards(dir.path());
    ASSERT_FALSE(merged);
    EXPECT_NE(merged.status().message().find("come from different pipelines"), std::string::npos) << merged.status().message();
  }
  {
    TempDir dir;
    Manifest twice = shard_manifest(1, 2, ids);
    twice.items.push_back(shard_manifest(0, 2, ids).items.front());
    write_shard(dir.path(), shard_manifest(0, 2, ids));
    write_shard(dir.path(), twice);
    auto merged = merge_shards(dir.path());
    ASSERT_FALSE(merged);
    EXPECT_NE(merged.status().message().find("item 'a' is recorded by two shards"), std::string::npos) << merged.status().message();
  }
  {
    TempDir dir;
    Manifest escaping = shard_manifest(0, 1, ids);
    escaping.run_outputs = {{"sweep_csv", "../sweep.shard-0-of-1.csv"}};
    write_shard(dir.path(), escaping);
    auto merged = merge_shards(dir.path(), with_mean_csv());
    ASSERT_FALSE(merged);
    EXPECT_FALSE(fs::exists(dir.path() / "manifest.json"));
  }
}

// Under --mpi a failed rank does not stop the merge: its items are errors naming the rank.
TEST(ShardMerge, ToleratedFailedShardRecordsItsItemsAsErrors) {
  TempDir dir;
  const std::vector<std::string> ids = {"a", "b", "c", "d"};
  write_shard(dir.path(), shard_manifest(0, 2, ids));
  MergeOptions options;
  options.shard_count = 2;
  options.tolerate_failed_shards = true;
  for (std::size_t k = 0; k < ids.size(); ++k) options.all_inputs.push_back({ids[k], ids[k] + ".png"});
  options.shard_failures[1] = "out of memory";
  auto merged = merge_shards(dir.path(), options);
  ASSERT_TRUE(merged) << merged.status().message();
  const Manifest& m = merged.value().manifest;
  EXPECT_EQ(m.run.state, "stopped");
  EXPECT_EQ(m.items.size(), 4u);
  EXPECT_EQ(merged.value().items_failed, 2);
  for (const ManifestItem& item : m.items) {
    if (item.index % 2 == 1) {
      ASSERT_TRUE(item.error.has_value()) << item.id;
      EXPECT_EQ(item.error->message, "rank 1 failed: out of memory");
    } else {
      EXPECT_TRUE(item.ok) << item.id;
    }
  }
}

}  // namespace
}  // namespace lrpflow
