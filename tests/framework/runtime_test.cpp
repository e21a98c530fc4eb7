// Runtime: ordering, backpressure, error propagation, stop on error, interruption, resume.
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <fstream>
#include <map>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "lrpflow/files.h"
#include "lrpflow/item_log.h"
#include "lrpflow/manifest.h"
#include "lrpflow/runtime.h"
#include "test_support.h"

namespace lrpflow {
namespace {
namespace fs = std::filesystem;

struct RunResult {
  PipelineLoad load;
  Result<RunReport> report = Status::error("not run");
};

RunResult run(const std::string& yaml, const fs::path& out, const RunOptions& options = {},
        std::vector<Override> overrides = {}) {
  overrides.push_back({"output.dir", out.string(), "--out", true});
  RunResult r;
  r.load = testing::parse(yaml, overrides);
  EXPECT_TRUE(r.load.ok()) << testing::all_messages(r.load);
  if (r.load.ok()) r.report = run_pipeline(*r.load.pipeline, testing::test_registry(), options);
  return r;
}

std::string source(int count, const std::string& extra_options = "") {
  return "version: 1\n"
         "stages:\n"
         "  - id: src\n"
         "    type: test_source\n"
         "    options: {count: " + std::to_string(count) + extra_options + "}\n";
}

std::vector<std::string> lines_of(const fs::path& file) {
  std::ifstream in(file);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

Manifest manifest_of(const fs::path& out) {
  auto m = read_manifest(out / "manifest.json");
  EXPECT_TRUE(m.is_ok()) << m.status().message();
  return m.is_ok() ? m.value() : Manifest{};
}

TEST(Runtime, RunsEveryItemThroughEveryStage) {
  testing::TempDir out;
  const RunResult r = run(source(20) +
                        "  - id: write\n"
                        "    type: test_writer\n"
                        "    options: {resource: k}\n"
                        "resources:\n"
                        "  k: {type: test_constant, options: {value: 41}}\n"
                        "runtime: {threads: 2}\n",
                    out.path());
  ASSERT_TRUE(r.report.is_ok()) << r.report.status().message();
  const RunReport& report = r.report.value();
  EXPECT_EQ(report.items_total, 20);
  EXPECT_EQ(report.items_ok, 20);
  EXPECT_EQ(report.items_failed, 0);
  EXPECT_EQ(report.exit_code(), 0);
  ASSERT_EQ(report.stages.size(), 2u);
  EXPECT_EQ(report.stages[0].id, "src");
  EXPECT_EQ(report.stages[0].count, 20);
  EXPECT_EQ(report.stages[1].count, 20);
  EXPECT_GE(report.stages[1].p95_ms, 0.0);
  // The writer saw the slot the source wrote and the resource's value.
  EXPECT_EQ(lines_of(out.path() / "items/item-013.txt"), std::vector<std::string>{"13 41"});
  // close() ran and its run output is in the report and the manifest.
  EXPECT_EQ(lines_of(out.path() / "writer_count.txt"), std::vector<std::string>{"20"});
  ASSERT_EQ(report.run_outputs.size(), 1u);
  EXPECT_EQ(report.run_outputs[0].path, "writer_count.txt");
  const Manifest m = manifest_of(out.path());
  ASSERT_EQ(m.items.size(), 20u);
  EXPECT_EQ(m.run.state, "complete");
  EXPECT_EQ(m.run.items_total, 20);
  EXPECT_EQ(m.items[13].id, "item-013");
  EXPECT_EQ(m.items[13].index, 13);
  EXPECT_EQ(m.items[13].source, "count#13");
  ASSERT_EQ(m.items[13].outputs.size(), 1u);
  EXPECT_EQ(m.items[13].outputs[0].path, "items/item-013.txt");
  EXPECT_EQ(m.items[13].timings_ms.count("write"), 1u);
  ASSERT_EQ(m.run_outputs.size(), 1u);
  EXPECT_EQ(m.stages.size(), 2u);
}

TEST(Runtime, OrderedStageSeesItemsInInputOrder) {
  testing::TempDir out;
  // The reentrant jittery stage lets items overtake each other before the ordered stage.
  const RunResult r = run(source(60) +
                        "  - id: shuffle\n"
                        "    type: test_slow\n"
                        "    options: {jitter: true}\n"
                        "  - id: record\n"
                        "    type: test_ordered\n"
                        "runtime: {threads: 3, max_in_flight: 12}\n",
                    out.path());
  ASSERT_TRUE(r.report.is_ok()) << r.report.status().message();
  std::vector<std::string> expected;
  for (int i = 0; i < 60; ++i) expected.push_back(std::to_string(i));
  EXPECT_EQ(lines_of(out.path() / "order.txt"), expected);
  // The shuffling really happened (otherwise the test proves nothing): some item finished the
  // jittery stage out of input order.
  const Manifest m = manifest_of(out.path());
  int overtaken = 0;
  for (const ManifestItem& item : m.items) overtaken += item.metrics.at("finish_rank") != item.index;
  EXPECT_GT(overtaken, 0);
}

TEST(Runtime, OrderedStageStaysOrderedWhenResumeLeavesGaps) {
  testing::TempDir out;
  ASSERT_TRUE(run(source(10) + "  - id: write\n    type: test_writer\n", out.path()).report.is_ok());
  fs::remove(out.path() / "items/item-002.txt");
  fs::remove(out.path() / "items/item-007.txt");
  RunOptions resume;
  resume.resume = true;
  resume.allow_changed_pipeline = true;  // the resumed pipeline adds a stage
  const RunResult r = run(source(10) +
                        "  - id: write\n    type: test_writer\n"
                        "  - id: record\n    type: test_ordered\n",
                    out.path(), resume);
  ASSERT_TRUE(r.report.is_ok()) << r.report.status().message();
  EXPECT_EQ(r.report.value().items_skipped, 8);
  EXPECT_EQ(lines_of(out.path() / "order.txt"), (std::vector<std::string>{"2", "7"}));
}

TEST(Runtime, BackpressureBoundsItemsInFlight) {
  testing::TempDir out;
  const RunResult r = run(source(200) +
                        "  - id: slow\n"
                        "    type: test_slow\n"
                        // Long enough per item that the second worker overlaps even on a busy machine.
                        "    options: {sleep_ms: 5}\n"
                        "runtime: {threads: 2, max_in_flight: 3}\n",
                    out.path());
  ASSERT_TRUE(r.report.is_ok()) << r.report.status().message();
  const RunReport& report = r.report.value();
  EXPECT_EQ(report.items_ok, 200);
  EXPECT_LE(report.max_in_flight_observed, 3);
  EXPECT_GE(report.max_in_flight_observed, 2);  // the limit was actually reached, not trivially met
  // The reentrant stage never ran on more items than there are worker threads.
  for (const ManifestItem& item : manifest_of(out.path()).items) EXPECT_LE(item.metrics.at("concurrent"), 2.0);
}

// A declared DAG runs as a DAG: two branches after the source run at the same time on the same
// item (one item in flight, so any overlap is between the branches), and the join sees both.
TEST(RuntimeGraph, ConcurrentBranchesOverlapOnOneItem) {
  testing::TempDir out;
  const RunResult r = run(source(6) +
                              "  - {id: left, type: test_slow, inputs: [src], options: {sleep_ms: 60, metric: left_active}}\n"
                              "  - {id: right, type: test_slow, inputs: [src], options: {sleep_ms: 60, metric: right_active}}\n"
                              "  - {id: after, type: test_tag, inputs: [left, right], options: {read: [value], write: done}}\n"
                              "runtime: {threads: 2, max_in_flight: 1}\n",
                          out.path());
  ASSERT_TRUE(r.report.is_ok()) << r.report.status().message();
  EXPECT_EQ(r.report.value().items_ok, 6);
  int overlapped = 0;
  for (const ManifestItem& item : manifest_of(out.path()).items) {
    const double both = std::max(item.metrics.at("left_active"), item.metrics.at("right_active"));
    EXPECT_LE(both, 2.0) << item.id;
    overlapped += both == 2.0;
    EXPECT_TRUE(item.timings_ms.count("left") && item.timings_ms.count("right") && item.timings_ms.count("after"));
  }
  // 60 ms each: on two threads the branches meet on nearly every item, even on a busy machine.
  EXPECT_GE(overlapped, 3);

  // The same stages as a chain never overlap (one item in flight).
  testing::TempDir chain;
  const RunResult c = run(source(3) +
                              "  - {id: left, type: test_slow, options: {sleep_ms: 20, metric: left_active}}\n"
                              "  - {id: right, type: test_slow, options: {sleep_ms: 20, metric: right_active}}\n"
                              "runtime: {threads: 2, max_in_flight: 1}\n",
                          chain.path());
  ASSERT_TRUE(c.report.is_ok()) << c.report.status().message();
  for (const ManifestItem& item : manifest_of(chain.path()).items) {
    EXPECT_EQ(item.metrics.at("left_active"), 1.0);
    EXPECT_EQ(item.metrics.at("right_active"), 1.0);
  }
}

// Branches write their own slots on their own overlay; where they join, a stage reads what each
// branch wrote, and the item records every branch's outputs: the same as the chain of the stages.
TEST(RuntimeGraph, JoinSeesEveryBranchAndRecordsTheSameAsTheChain) {
  const std::string stages_dag =
      "  - {id: a, type: test_tag, inputs: [src], options: {read: [value], write: a}}\n"
      "  - {id: b, type: test_tag, inputs: [src], options: {read: [value], write: b}}\n"
      "  - {id: b2, type: test_tag, inputs: [b], options: {read: [b], write: b2}}\n"
      "  - {id: c, type: test_tag, inputs: [src], options: {read: [value], write: c}}\n"
      "  - {id: join, type: test_tag, inputs: [a, b2, c], options: {read: [a, b2, c, value], write: j}}\n";
  const std::string stages_chain =
      "  - {id: a, type: test_tag, options: {read: [value], write: a}}\n"
      "  - {id: b, type: test_tag, options: {read: [value], write: b}}\n"
      "  - {id: b2, type: test_tag, options: {read: [b], write: b2}}\n"
      "  - {id: c, type: test_tag, options: {read: [value], write: c}}\n"
      "  - {id: join, type: test_tag, options: {read: [a, b2, c, value], write: j}}\n";
  testing::TempDir dag, chain;
  const RunResult d = run(source(20) + stages_dag + "runtime: {threads: 2, max_in_flight: 4}\n", dag.path());
  const RunResult c = run(source(20) + stages_chain + "runtime: {threads: 2, max_in_flight: 4}\n", chain.path());
  ASSERT_TRUE(d.report.is_ok()) << d.report.status().message();
  ASSERT_TRUE(c.report.is_ok()) << c.report.status().message();
  EXPECT_EQ(d.report.value().items_ok, 20);
  auto joined = read_file(dag.path() / "tags/item-003.j.txt");
  ASSERT_TRUE(joined) << joined.status().message();
  EXPECT_EQ(joined.value(), "join(a(3),b2(b(3)),c(3),3)");
  const Manifest md = manifest_of(dag.path()), mc = manifest_of(chain.path());
  ASSERT_EQ(md.items.size(), mc.items.size());
  for (std::size_t i = 0; i < md.items.size(); ++i) {
    ASSERT_EQ(md.items[i].outputs.size(), 5u) << md.items[i].id;
    for (std::size_t o = 0; o < md.items[i].outputs.size(); ++o) {
      EXPECT_EQ(md.items[i].outputs[o].path, mc.items[i].outputs[o].path) << md.items[i].id;
      auto a = read_file(dag.path() / md.items[i].outputs[o].path), b = read_file(chain.path() / mc.items[i].outputs[o].path);
      ASSERT_TRUE(a && b);
      EXPECT_EQ(a.value(), b.value());
    }
  }
}

// A branch that fails fails the item (its first error in pipeline order); the other branch still
// ran, the join did not.
TEST(RuntimeGraph, AFailingBranchFailsTheItemAndTheJoinIsSkipped) {
  testing::TempDir out;
  const RunResult r = run(source(4) +
                              "  - {id: boom, type: test_fail, inputs: [src], options: {ids: [item-001]}}\n"
                              "  - {id: other, type: test_tag, inputs: [src], options: {read: [value], write: o}}\n"
                              "  - {id: join, type: test_tag, inputs: [boom, other], options: {read: [o], write: j}}\n",
                          out.path());
  ASSERT_TRUE(r.report.is_ok()) << r.report.status().message();
  EXPECT_EQ(r.report.value().items_failed, 1);
  for (const ManifestItem& item : manifest_of(out.path()).items) {
    if (item.id != "item-001") {
      EXPECT_TRUE(item.ok) << item.id;
      continue;
    }
    ASSERT_TRUE(item.error.has_value());
    EXPECT_EQ(item.error->stage, "boom");
    EXPECT_TRUE(item.timings_ms.count("other"));
    EXPECT_FALSE(item.timings_ms.count("join"));
  }
}

TEST(Runtime, FailedItemsAreRecordedAndOthersSucceed) {
  testing::TempDir out;
  const RunResult r = run(source(12, ", fail_load: [item-004]") +
                        "  - id: boom\n"
                        "    type: test_fail\n"
                        "    options: {ids: [item-002, item-009], how: throw}\n"
                        "  - id: write\n"
                        "    type: test_writer\n"
                        "runtime: {threads: 2}\n",
                    out.path());
  ASSERT_TRUE(r.report.is_ok()) << r.report.status().message();
  const RunReport& report = r.report.value();
  EXPECT_EQ(report.items_ok, 9);
  EXPECT_EQ(report.items_failed, 3);
  EXPECT_EQ(report.exit_code(), 1);
  ASSERT_EQ(report.errors.size(), 3u);
  // In input order, with the stage that failed and its message (an exception became an error).
  EXPECT_EQ(report.errors[0].item_id, "item-002");
  EXPECT_EQ(report.errors[0].stage, "boom");
  EXPECT_EQ(report.errors[0].message, "exception for item-002");
  EXPECT_EQ(report.errors[1].item_id, "item-004");
  EXPECT_EQ(report.errors[1].stage, "src");
  EXPECT_EQ(report.errors[1].message, "cannot load count#4");
  EXPECT_EQ(report.errors[2].item_id, "item-009");
  // A failed item skipped the later stages: no output file, no writer timing.
  EXPECT_FALSE(fs::exists(out.path() / "items/item-002.txt"));
  EXPECT_EQ(report.stages[2].count, 9);
  const Manifest m = manifest_of(out.path());
  ASSERT_EQ(m.items.size(), 12u);
  EXPECT_FALSE(m.items[9].ok);
  ASSERT_TRUE(m.items[9].error.has_value());
  EXPECT_EQ(m.items[9].error->stage, "boom");
  EXPECT_TRUE(m.items[9].outputs.empty());
  EXPECT_EQ(m.items[9].timings_ms.count("write"), 0u);
  EXPECT_TRUE(m.items[8].ok);
}

TEST(Runtime, OnErrorFailStopsCleanly) {
  testing::TempDir out;
  const RunResult r = run(source(50) +
                        "  - id: boom\n"
                        "    type: test_fail\n"
                        "    options: {ids: [item-005]}\n"
                        "  - id: write\n"
                        "    type: test_writer\n"
                        "runtime: {threads: 1, max_in_flight: 1, on_error: fail}\n",
                    out.path());
  ASSERT_TRUE(r.report.is_ok()) << r.report.status().message();
  const RunReport& report = r.report.value();
  EXPECT_TRUE(report.stopped_on_error);
  EXPECT_EQ(report.exit_code(), 1);
  // One item at a time: items 0..5 ran, nothing after the failure was started.
  EXPECT_EQ(report.items_ok, 5);
  EXPECT_EQ(report.items_failed, 1);
  EXPECT_EQ(report.items_not_run, 44);
  EXPECT_FALSE(fs::exists(out.path() / "items/item-006.txt"));
  // close() still ran, and the manifest says the run stopped.
  EXPECT_EQ(lines_of(out.path() / "writer_count.txt"), std::vector<std::string>{"5"});
  const Manifest m = manifest_of(out.path());
  EXPECT_EQ(m.run.state, "stopped");
  EXPECT_EQ(m.items.size(), 6u);
}

TEST(Runtime, StopRequestEndsTheRunWithWhatIsDone) {
  testing::TempDir out;
  std::atomic<bool> stop{false};
  RunOptions options;
  options.stop_requested = &stop;
  options.manifest_interval_s = 0;  // rewrite after every item
  options.on_progress = [&](const RunProgress& p) {
    if (p.done == 5) stop = true;  // as the SIGINT handler would
  };
  const RunResult r = run(source(100) + "  - id: write\n    type: test_writer\nruntime: {threads: 2, max_in_flight: 2}\n",
                    out.path(), options);
  ASSERT_TRUE(r.report.is_ok()) << r.report.status().message();
  const RunReport& report = r.report.value();
  EXPECT_TRUE(report.interrupted);
  EXPECT_EQ(report.exit_code(), 130);
  // Items already admitted may finish; nothing new starts.
  EXPECT_GE(report.items_ok, 5);
  EXPECT_LE(report.items_ok, 5 + 2);
  EXPECT_EQ(report.items_ok + report.items_not_run, 100);
  const Manifest m = manifest_of(out.path());
  EXPECT_EQ(m.run.state, "interrupted");
  EXPECT_EQ(static_cast<std::int64_t>(m.items.size()), report.items_ok);
  // Every recorded item's output exists, and no temporary file was left behind.
  for (const ManifestItem& item : m.items) EXPECT_TRUE(outputs_exist(item, out.path())) << item.id;
  for (const auto& entry : fs::recursive_directory_iterator(out.path())) {
    EXPECT_EQ(entry.path().filename().string().find(".tmp-"), std::string::npos) << entry.path();
  }
}

TEST(Runtime, ResumeSkipsDoneItemsAndRerunsFailedOrMissingOnes) {
  testing::TempDir out;
  const std::string with_failure = source(10) +
                                   "  - id: boom\n    type: test_fail\n    options: {ids: [item-003]}\n"
                                   "  - id: write\n    type: test_writer\n";
  const RunResult first = run(with_failure, out.path());
  ASSERT_TRUE(first.report.is_ok());
  EXPECT_EQ(first.report.value().items_failed, 1);
  fs::remove(out.path() / "items/item-006.txt");  // an ok item whose output disappeared

  RunOptions resume;
  resume.resume = true;
  resume.allow_changed_pipeline = true;  // boom no longer fails item-003: another configuration
  const RunResult second = run(source(10) + "  - id: boom\n    type: test_fail\n  - id: write\n    type: test_writer\n",
                         out.path(), resume);
  ASSERT_TRUE(second.report.is_ok()) << second.report.status().message();
  const RunReport& report = second.report.value();
  EXPECT_EQ(report.items_skipped, 8);
  EXPECT_EQ(report.items_ok, 2);  // item-003 (failed before) and item-006 (output missing)
  EXPECT_EQ(report.items_failed, 0);
  EXPECT_EQ(report.stages[2].count, 2);
  EXPECT_EQ(lines_of(out.path() / "writer_count.txt"), std::vector<std::string>{"2"});
  const Manifest m = manifest_of(out.path());
  ASSERT_EQ(m.items.size(), 10u);
  for (const ManifestItem& item : m.items) {
    EXPECT_TRUE(item.ok) << item.id;
    EXPECT_TRUE(outputs_exist(item, out.path())) << item.id;
  }
  // Carried items keep their record from the first run (their timings included).
  EXPECT_EQ(m.items[0].timings_ms.count("write"), 1u);

  // A third resume has nothing to do.
  const RunResult third = run(source(10) + "  - id: write\n    type: test_writer\n", out.path(), resume);
  ASSERT_TRUE(third.report.is_ok());
  EXPECT_EQ(third.report.value().items_skipped, 10);
  EXPECT_EQ(third.report.value().items_ok, 0);
  EXPECT_EQ(third.report.value().exit_code(), 0);
}

std::vector<fs::path> item_logs_in(const fs::path& dir) {
  std::vector<fs::path> logs;
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.path().extension() == ".jsonl") logs.push_back(entry.path());
  return logs;
}

// While a run is under way its items are in the item log, not in memory: every checkpoint
// manifest reads back (through the log) as exactly the items recorded so far, its size does not
// grow with them, and the final manifest lists them all inline with the log gone.
TEST(Runtime, CheckpointsReferToTheItemLogAndTheFinalManifestIsInline) {
  testing::TempDir out;
  RunOptions options;
  options.manifest_interval_s = 0;  // a checkpoint after every item
  std::vector<std::int64_t> recorded;
  std::vector<std::uintmax_t> manifest_bytes;
  options.on_progress = [&](const RunProgress& p) {
    // on_progress runs before the checkpoint of this item: the one on disk has the items before it.
    auto m = read_manifest(out.path() / "manifest.json");
    ASSERT_TRUE(m) << m.status().message();
    recorded.push_back(static_cast<std::int64_t>(m.value().items.size()));
    EXPECT_EQ(static_cast<std::int64_t>(m.value().items.size()), p.done - 1);
    manifest_bytes.push_back(fs::file_size(out.path() / "manifest.json"));
    EXPECT_EQ(item_logs_in(out.path()).size(), 1u);
  };
  const RunResult r = run(source(30) + "  - id: write\n    type: test_writer\nruntime: {threads: 2}\n", out.path(), options);
  ASSERT_TRUE(r.report.is_ok()) << r.report.status().message();
  ASSERT_EQ(recorded.size(), 30u);
  EXPECT_EQ(recorded.back(), 29);
  // After the first item's (the stage table is empty before it), only the stage timings and the
  // log's length change from one checkpoint to the next.
  EXPECT_LT(manifest_bytes.back(), manifest_bytes[1] + 40) << "a checkpoint's cost does not grow with the run";
  EXPECT_TRUE(item_logs_in(out.path()).empty());
  const auto raw = nlohmann::json::parse(read_file(out.path() / "manifest.json").value());
  EXPECT_FALSE(raw.contains("items_log"));
  ASSERT_EQ(raw["items"].size(), 30u);
  for (std::size_t i = 0; i < 30; ++i) EXPECT_EQ(raw["items"][i]["index"], i);
}

// A run killed mid-way leaves a checkpoint and its log; --resume carries what the checkpoint
// recorded (not what the log holds beyond it) and removes the old log.
TEST(Runtime, ResumeAfterAKillReadsTheCheckpointsLog) {
  testing::TempDir out;
  const std::string pipeline = source(12) + "  - id: write\n    type: test_writer\n";
  ASSERT_TRUE(run(pipeline, out.path()).report.is_ok());
  // Turn the final manifest back into what a kill after 5 items leaves: a checkpoint naming a log
  // of 5 recorded items plus a sixth appended after it.
  Manifest m = manifest_of(out.path());
  ASSERT_EQ(m.items.size(), 12u);
  auto log = ItemLog::create(out.path() / "manifest.items.99999.jsonl");
  ASSERT_TRUE(log);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(log.value()->append(m.items[static_cast<std::size_t>(i)]));
  ASSERT_TRUE(log.value()->sync());
  ASSERT_TRUE(log.value()->append(m.items[5]));
  m.items_log = ManifestItemLog{"manifest.items.99999.jsonl", log.value()->synced_bytes()};
  m.items.clear();
  m.run.state = "running";
  ASSERT_TRUE(write_manifest(out.path() / "manifest.json", m));
  log.value().reset();

  RunOptions resume;
  resume.resume = true;
  const RunResult second = run(pipeline, out.path(), resume);
  ASSERT_TRUE(second.report.is_ok()) << second.report.status().message();
  EXPECT_EQ(second.report.value().items_skipped, 5);
  EXPECT_EQ(second.report.value().items_ok, 7);
  EXPECT_TRUE(item_logs_in(out.path()).empty());
  const Manifest final_manifest = manifest_of(out.path());
  EXPECT_EQ(final_manifest.items.size(), 12u);
  EXPECT_EQ(final_manifest.run.state, "complete");
}

TEST(Runtime, ResumeRedoesItemsWhoseFilesWereCutShortOrRemoved) {
  testing::TempDir out;
  const std::string pipeline = source(10) + "  - id: write\n    type: test_writer\n";
  ASSERT_TRUE(run(pipeline, out.path()).report.is_ok());
  const Manifest first = manifest_of(out.path());
  for (const ManifestItem& item : first.items) {
    ASSERT_EQ(item.output_bytes.size(), 1u) << item.id;
    EXPECT_EQ(item.output_bytes.begin()->second, static_cast<std::int64_t>(fs::file_size(out.path() / item.outputs[0].path)));
  }
  fs::resize_file(out.path() / "items/item-004.txt", 0);  // what a full disk used to leave
  fs::resize_file(out.path() / "items/item-005.txt", 3);  // cut short
  fs::remove(out.path() / "items/item-006.txt");

  RunOptions resume;
  resume.resume = true;
  const RunResult second = run(pipeline, out.path(), resume);
  ASSERT_TRUE(second.report.is_ok()) << second.report.status().message();
  EXPECT_EQ(second.report.value().items_skipped, 7);
  EXPECT_EQ(second.report.value().items_ok, 3);
  const Manifest m = manifest_of(out.path());
  ASSERT_EQ(m.items.size(), 10u);
  for (std::size_t i = 0; i < m.items.size(); ++i) {
    EXPECT_TRUE(check_outputs(m.items[i], out.path()).is_ok()) << m.items[i].id;
    EXPECT_EQ(read_file(out.path() / m.items[i].outputs[0].path).value(), read_file(out.path() / first.items[i].outputs[0].path).value());
  }
}

TEST(Runtime, ResumeDoesNotCountAnItemDoneWhoseOutputLiesOutsideTheFolder) {
  testing::TempDir out;
  const std::string pipeline = source(5) + "  - id: write\n    type: test_writer\n";
  ASSERT_TRUE(run(pipeline, out.path()).report.is_ok());
  // A hand-edited manifest: item-002's output is a file that exists, but not in the run's folder.
  auto j = nlohmann::json::parse(read_file(out.path() / "manifest.json").value());
  for (auto& item : j["items"]) {
    if (item["id"] != "item-002") continue;
    item["outputs"] = {{"text", {"/etc/passwd"}}};
    item.erase("output_bytes");
  }
  ASSERT_TRUE(write_file_atomic(out.path() / "manifest.json", j.dump(2)).is_ok());

  RunOptions resume;
  resume.resume = true;
  const RunResult second = run(pipeline, out.path(), resume);
  ASSERT_TRUE(second.report.is_ok()) << second.report.status().message();
  EXPECT_EQ(second.report.value().items_skipped, 4);
  EXPECT_EQ(second.report.value().items_ok, 1);  // item-002, run again
  const Manifest m = manifest_of(out.path());
  ASSERT_EQ(m.items.size(), 5u);
  EXPECT_EQ(m.items[2].id, "item-002");
  ASSERT_EQ(m.items[2].outputs.size(), 1u);
  EXPECT_EQ(m.items[2].outputs[0].path, "items/item-002.txt");
}

TEST(Runtime, AResumeRemovesStaleTemporariesAndNothingElse) {
  testing::TempDir out;
  const std::string pipeline = source(3) + "  - id: write\n    type: test_writer\n";
  ASSERT_TRUE(run(pipeline, out.path()).report.is_ok());
  // A pid no process has: pids stay below pid_max.
  const std::string dead = lines_of("/proc/sys/kernel/pid_max").at(0);
  const std::string alive = std::to_string(::getppid());
  const std::vector<fs::path> stale = {out.path() / ("manifest.tmp-" + dead + "-0.json"),
                                       out.path() / ("items/item-001.tmp-" + dead + "-17.txt"),
                                       out.path() / ("items/sub/deep.tmp-" + dead + "-3.png")};
  const std::vector<fs::path> kept = {out.path() / "items/notes.tmp-12.txt", out.path() / "items/item-001.tmp-x-1.txt",
                                      out.path() / ("items/item-001.tmp-" + dead + "-1.txt.bak"),
                                      out.path() / ("items/live.tmp-" + alive + "-1.txt")};  // its writer may be at it
  for (const fs::path& file : stale) ASSERT_TRUE(write_file_atomic(file, "half").is_ok());
  for (const fs::path& file : kept) ASSERT_TRUE(write_file_atomic(file, "mine").is_ok());

  RunOptions resume;
  resume.resume = true;
  const RunResult second = run(pipeline, out.path(), resume);
  ASSERT_TRUE(second.report.is_ok()) << second.report.status().message();
  EXPECT_EQ(second.report.value().items_skipped, 3);
  for (const fs::path& file : stale) EXPECT_FALSE(fs::exists(file)) << file;
  for (const fs::path& file : kept) EXPECT_TRUE(fs::exists(file)) << file;
  EXPECT_TRUE(fs::exists(out.path() / "items/item-001.txt"));
}

TEST(Runtime, StaleTemporariesStayWhileAnotherRunHoldsALockOfTheFolder) {
  testing::TempDir out;
  const std::string pipeline = source(2) + "  - id: write\n    type: test_writer\n";
  ASSERT_TRUE(run(pipeline, out.path()).report.is_ok());
  const fs::path stale = out.path() / ("items/item-000.tmp-" + lines_of("/proc/sys/kernel/pid_max").at(0) + "-5.txt");
  ASSERT_TRUE(write_file_atomic(stale, "half").is_ok());
  // A shard of another run in the same folder, possibly on another machine: its pids mean nothing here.
  const fs::path other_lock = out.path() / ".lock.shard-1-of-2";
  const int fd = ::open(other_lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::flock(fd, LOCK_EX | LOCK_NB), 0);
  RunOptions resume;
  resume.resume = true;
  ASSERT_TRUE(run(pipeline, out.path(), resume).report.is_ok());
  EXPECT_TRUE(fs::exists(stale));
  ::close(fd);  // that run has ended (its lock file may stay, unlocked)
  ASSERT_TRUE(run(pipeline, out.path(), resume).report.is_ok());
  EXPECT_FALSE(fs::exists(stale));
}

TEST(Runtime, ResumeWithAChangedPipelineIsRefusedUnlessAllowedAndKeepsProvenance) {
  testing::TempDir out;
  const std::string original = source(6) + "  - id: write\n    type: test_writer\n";
  const std::vector<Override> changed = {{"stages.write.options.slot", "value", "--set stages.write.options.slot=value"}};
  ASSERT_TRUE(run(original, out.path()).report.is_ok());
  const Manifest first = manifest_of(out.path());
  const std::string original_hash = first.run.pipeline_hash;
  ASSERT_EQ(first.configurations.size(), 1u);
  EXPECT_EQ(first.configurations[0].pipeline_hash, original_hash);
  for (const ManifestItem& item : first.items) EXPECT_EQ(item.pipeline_hash, original_hash) << item.id;
  fs::remove(out.path() / "items/item-004.txt");

  // A plain --resume with another --set value is refused, and the manifest is left as it was.
  RunOptions resume;
  resume.resume = true;
  const RunResult refused = run(original, out.path(), resume, changed);
  ASSERT_FALSE(refused.report.is_ok());
  const std::string message = refused.report.status().message();
  EXPECT_NE(message.find("cannot resume: 6 items in " + (out.path() / "manifest.json").string()), std::string::npos) << message;
  EXPECT_NE(message.find("6 by " + original_hash), std::string::npos) << message;
  EXPECT_NE(message.find("--allow-changed-pipeline"), std::string::npos) << message;
  EXPECT_EQ(manifest_of(out.path()).run.pipeline_hash, original_hash);
  EXPECT_FALSE(fs::exists(out.path() / "items/item-004.txt"));

  // Allowed: the 5 done items are kept with their configuration, item-004 runs with the new one.
  resume.allow_changed_pipeline = true;
  const RunResult mixed = run(original, out.path(), resume, changed);
  ASSERT_TRUE(mixed.report.is_ok()) << mixed.report.status().message();
  EXPECT_EQ(mixed.report.value().items_skipped, 5);
  EXPECT_EQ(mixed.report.value().items_ok, 1);
  const Manifest m = manifest_of(out.path());
  const std::string changed_hash = m.run.pipeline_hash;
  EXPECT_NE(changed_hash, original_hash);
  ASSERT_EQ(m.configurations.size(), 2u);
  EXPECT_EQ(m.configurations[0].pipeline_hash, original_hash);
  EXPECT_EQ(m.configurations[1].pipeline_hash, changed_hash);
  EXPECT_EQ(m.configurations[1].overrides, std::vector<std::string>{"--set stages.write.options.slot=value"});
  for (const ManifestItem& item : m.items) {
    EXPECT_EQ(item.pipeline_hash, item.id == "item-004" ? changed_hash : original_hash) << item.id;
  }
  EXPECT_EQ(items_per_configuration(m), (std::map<std::string, std::int64_t>{{original_hash, 5}, {changed_hash, 1}}));

  // Resuming with the original pipeline is refused too: item-004 came from the other configuration.
  resume.allow_changed_pipeline = false;
  const RunResult back = run(original, out.path(), resume);
  ASSERT_FALSE(back.report.is_ok());
  EXPECT_NE(back.report.status().message().find("1 by " + changed_hash), std::string::npos) << back.report.status().message();
}

TEST(Runtime, ResumeWithOtherThreadCountsOrOutputDirIsTheSameConfiguration) {
  testing::TempDir out;
  const std::string text = source(4) + "  - id: write\n    type: test_writer\n";
  ASSERT_TRUE(run(text, out.path(), {}, {{"runtime.threads", "1", "--threads 1"}}).report.is_ok());
  fs::remove(out.path() / "items/item-001.txt");
  RunOptions resume;
  resume.resume = true;
  const RunResult r = run(text, out.path(), resume,
                          {{"runtime.threads", "2", "--threads 2"}, {"runtime.max_in_flight", "3", "--set runtime.max_in_flight=3"}});
  ASSERT_TRUE(r.report.is_ok()) << r.report.status().message();
  EXPECT_EQ(r.report.value().items_skipped, 3);
  EXPECT_EQ(manifest_of(out.path()).configurations.size(), 1u);
}

TEST(Runtime, ResumeWithACorruptManifestIsAnErrorNamingTheFile) {
  testing::TempDir out;
  ASSERT_TRUE(write_file_atomic(out.path() / "manifest.json", "{\"format\": 1, \"items\": [").is_ok());
  RunOptions resume;
  resume.resume = true;
  const RunResult r = run(source(3), out.path(), resume);
  ASSERT_FALSE(r.report.is_ok());
  EXPECT_NE(r.report.status().message().find("cannot resume: " + (out.path() / "manifest.json").string() +
                                             ": corrupt manifest"),
            std::string::npos)
      << r.report.status().message();
}

// A stage that opened is closed once, with nothing_ran, when a later stage cannot open; and with
// the run's outcome after a run.
TEST(Runtime, StagesOpenedBeforeAFailedOpenAreClosedWithNothingRan) {
  testing::TempDir out;
  const fs::path marker = out.path() / "closed.txt";
  const std::string probe = "  - id: probe\n    type: test_close_probe\n    options: {marker: " + marker.string() + "}\n";
  const RunResult failed = run(source(3) + probe + "  - id: broken\n    type: test_open_fails\n", out.path() / "run");
  ASSERT_FALSE(failed.report.is_ok());
  auto text = read_file(marker);
  ASSERT_TRUE(text) << text.status().message();
  EXPECT_EQ(text.value(), "closed nothing_ran=1\n");
  EXPECT_FALSE(fs::exists(out.path() / "run")) << "a run that could not start leaves no folder";

  fs::remove(marker);
  const RunResult ran = run(source(3) + probe, out.path() / "run");
  ASSERT_TRUE(ran.report.is_ok()) << ran.report.status().message();
  text = read_file(marker);
  ASSERT_TRUE(text) << text.status().message();
  EXPECT_EQ(text.value(), "closed nothing_ran=0\n");
}

TEST(Runtime, StartupFailuresNameTheStageOrResource) {
  testing::TempDir out;
  const RunResult open_fails = run(source(3) + "  - id: broken\n    type: test_open_fails\n", out.path());
  ASSERT_FALSE(open_fails.report.is_ok());
  EXPECT_EQ(open_fails.report.status().message(), "stage 'broken' (test_open_fails): deliberately failing open");
  const RunResult resource_fails =
      run(source(3) + "resources:\n  k: {type: test_constant, options: {value: 1, fail: true}}\n", out.path());
  ASSERT_FALSE(resource_fails.report.is_ok());
  EXPECT_EQ(resource_fails.report.status().message(), "resource 'k' (test_constant): deliberately failing resource");
  // A stage option naming an undeclared resource is a pipeline error now (Pipeline.StageOptionsThatNameAResourceAreChecked).
}

TEST(Runtime, MoreThreadsThanCoresStillRuns) {
  testing::TempDir out;
  const RunResult r = run(source(30) + "  - id: slow\n    type: test_slow\n    options: {sleep_ms: 2}\n"
                          "runtime: {threads: 8, max_in_flight: 8}\n", out.path());
  ASSERT_TRUE(r.report.is_ok()) << r.report.status().message();
  EXPECT_EQ(r.report.value().items_ok, 30);
  EXPECT_LE(r.report.value().max_in_flight_observed, 8);
}

TEST(Runtime, EmptyInputListIsAnEmptySuccessfulRun) {
  testing::TempDir out;
  const RunResult r = run(source(0) + "  - id: write\n    type: test_writer\n", out.path());
  ASSERT_TRUE(r.report.is_ok()) << r.report.status().message();
  EXPECT_EQ(r.report.value().items_total, 0);
  EXPECT_EQ(r.report.value().exit_code(), 0);
  EXPECT_TRUE(manifest_of(out.path()).items.empty());
}

TEST(Runtime, ARunLeavesNoLockFileBehind) {
  testing::TempDir out;
  const RunResult whole = run(source(3) + "  - id: write\n    type: test_writer\n", out.path());
  ASSERT_TRUE(whole.report.is_ok()) << whole.report.status().message();
  RunOptions shard;
  shard.shard.index = 1;
  shard.shard.count = 2;
  const RunResult one_shard = run(source(3) + "  - id: write\n    type: test_writer\n", out.path(), shard);
  ASSERT_TRUE(one_shard.report.is_ok()) << one_shard.report.status().message();
  ASSERT_TRUE(fs::exists(out.path() / "manifest.json"));
  for (const auto& entry : fs::directory_iterator(out.path())) {
    EXPECT_NE(entry.path().filename().string().rfind(".lock", 0), 0u) << entry.path();
  }
}

// A whole run and a shard never work in one folder at once (shards of one run do): the folder is
// flocked exclusively by a whole run and shared by shards. The test holds the folder's lock as the
// other kind of run would.
TEST(Runtime, AWholeRunAndAShardCannotShareAFolderAtOnce) {
  testing::TempDir out;
  const std::string pipeline = source(3) + "  - id: write\n    type: test_writer\n";
  RunOptions shard;
  shard.shard.index = 0;
  shard.shard.count = 2;
  {
    const int dir = ::open(out.path().c_str(), O_RDONLY | O_DIRECTORY);
    ASSERT_GE(dir, 0);
    ASSERT_EQ(::flock(dir, LOCK_SH), 0);  // a shard at work
    const RunResult whole = run(pipeline, out.path());
    ASSERT_FALSE(whole.report.is_ok());
    EXPECT_NE(whole.report.status().message().find("a whole run and shards cannot share an output folder"),
              std::string::npos)
        << whole.report.status().message();
    const RunResult other_shard = run(pipeline, out.path(), shard);
    EXPECT_TRUE(other_shard.report.is_ok()) << other_shard.report.status().message();
    ::close(dir);
  }
  {
    const int dir = ::open(out.path().c_str(), O_RDONLY | O_DIRECTORY);
    ASSERT_GE(dir, 0);
    ASSERT_EQ(::flock(dir, LOCK_EX), 0);  // a whole run at work
    const RunResult one_shard = run(pipeline, out.path(), shard);
    ASSERT_FALSE(one_shard.report.is_ok());
    EXPECT_NE(one_shard.report.status().message().find("another lrpflow process is running a whole run"), std::string::npos)
        << one_shard.report.status().message();
    ::close(dir);
  }
  EXPECT_TRUE(run(pipeline, out.path()).report.is_ok()) << "the locks go with the processes holding them";
}

TEST(Runtime, ARunThatCannotStartLeavesNoOutputFolder) {
  testing::TempDir dir;
  const fs::path out = dir.path() / "new/run";
  const RunResult failed = run(source(3) + "  - id: broken\n    type: test_open_fails\n", out);
  ASSERT_FALSE(failed.report.is_ok());
  EXPECT_FALSE(fs::exists(dir.path() / "new")) << "created folders holding only a lock are removed";
  // A folder that existed before is kept, and emptied of the lock only.
  fs::create_directories(out);
  const RunResult again = run(source(3) + "  - id: broken\n    type: test_open_fails\n", out);
  ASSERT_FALSE(again.report.is_ok());
  EXPECT_TRUE(fs::is_directory(out));
  EXPECT_TRUE(fs::is_empty(out));
}

TEST(Runtime, AnOpenFailureNamesTheSetThatGaveTheOptions) {
  testing::TempDir out;
  const RunResult r = run(source(3) + "resources:\n  k: {type: test_constant, options: {value: 1}}\n", out.path(), {},
                          {testing::set("resources.k.options.fail=true")});
  ASSERT_FALSE(r.report.is_ok());
  EXPECT_EQ(r.report.status().message(),
            "resource 'k' (test_constant): deliberately failing resource (options given by --set resources.k.options.fail=true)");
}


TEST(Runtime, LibTorchErrorsReachUsersWithoutTheirBacktrace) {
  // LibTorch's checks throw c10::Error, whose what() ends in kilobytes of C++ stack frames.
  try {
    TORCH_CHECK(false, "a LibTorch check failed");
    FAIL() << "no exception";
  } catch (const std::exception& e) {
    ASSERT_NE(dynamic_cast<const c10::Error*>(&e), nullptr);
    const std::string message = exception_message(e);
    EXPECT_EQ(message, "a LibTorch check failed");
    EXPECT_NE(std::string(e.what()).find("frame #"), std::string::npos);
  }
  const std::runtime_error plain("plain");
  EXPECT_EQ(exception_message(plain), "plain");
}

}  // namespace
}  // namespace lrpflow
