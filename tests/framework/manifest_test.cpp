// Manifest: JSON round trip, corrupt files, atomic writes, output checks, fingerprints.
#include <fstream>
#include <map>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "lrpflow/files.h"
#include "lrpflow/item_log.h"
#include "lrpflow/manifest.h"
#include "test_support.h"

namespace lrpflow {
namespace {
namespace fs = std::filesystem;

Manifest sample() {
  Manifest m;
  m.run.pipeline_file = "pipelines/x.yaml";
  m.run.pipeline_hash = fingerprint("text");
  m.run.state = "complete";
  m.run.threads = 2;
  m.run.items_total = 2;
  ManifestItem ok;
  ok.id = "b";
  ok.source = "b.png";
  ok.index = 1;
  ok.outputs = {{"heatmap", "heatmaps/b.png"}, {"relevance", "relevance/b.npy"}, {"heatmap", "heatmaps/b_2.png"}};
  ok.metrics = {{"fidelity", 0.5}};
  ok.timings_ms = {{"lrp", 12.5}};
  ManifestItem failed;
  failed.id = "a";
  failed.source = "a.png";
  failed.index = 0;
  failed.ok = false;
  failed.error = ItemError{"load", "cannot decode a.png"};
  m.items = {ok, failed};
  m.run_outputs = {{"summary", "summary.csv"}};
  m.stages = {{"load", "image_loader", 2, 1.5, 2.0}};
  return m;
}

TEST(Manifest, RoundTripsThroughJson) {
  const Manifest m = sample();
  const std::string json = manifest_to_json(m);
  // Items are written in input order, outputs grouped by kind.
  const auto parsed = nlohmann::json::parse(json);
  EXPECT_EQ(parsed["format"], 1);
  EXPECT_EQ(parsed["items"][0]["id"], "a");
  EXPECT_EQ(parsed["items"][0]["status"], "error");
  EXPECT_EQ(parsed["items"][0]["error"]["stage"], "load");
  EXPECT_EQ(parsed["items"][1]["outputs"]["heatmap"], nlohmann::json({"heatmaps/b.png", "heatmaps/b_2.png"}));
  auto back = manifest_from_json(json, "m.json");
  ASSERT_TRUE(back.is_ok()) << back.status().message();
  const Manifest& b = back.value();
  ASSERT_EQ(b.items.size(), 2u);
  EXPECT_EQ(b.items[1].id, "b");
  EXPECT_TRUE(b.items[1].ok);
  EXPECT_EQ(b.items[1].outputs.size(), 3u);
  EXPECT_DOUBLE_EQ(b.items[1].metrics.at("fidelity"), 0.5);
  EXPECT_DOUBLE_EQ(b.items[1].timings_ms.at("lrp"), 12.5);
  EXPECT_FALSE(b.items[0].ok);
  EXPECT_EQ(b.items[0].error->message, "cannot decode a.png");
  EXPECT_EQ(b.run.pipeline_file, "pipelines/x.yaml");
  EXPECT_EQ(b.run.state, "complete");
  EXPECT_EQ(b.run_outputs.size(), 1u);
  EXPECT_EQ(b.stages.at(0).type, "image_loader");
  // Serialising again gives the same text.
  EXPECT_EQ(manifest_to_json(b), json);
}

// The streamed writer lays the text out exactly as one json::dump(2) of the whole manifest would.
TEST(Manifest, StreamedTextIsTheSameAsOneDump) {
  const Manifest m = sample();
  const std::string text = manifest_to_json(m);
  EXPECT_EQ(text, nlohmann::ordered_json::parse(text).dump(2) + "\n");
  Manifest empty = m;
  empty.items.clear();
  const std::string no_items = manifest_to_json(empty);
  EXPECT_NE(no_items.find("\"items\": []"), std::string::npos);
  EXPECT_EQ(no_items, nlohmann::ordered_json::parse(no_items).dump(2) + "\n");
}

// A checkpoint lists no items itself: they are in the item log, of which only the length the
// checkpoint recorded counts (a line appended after it, or cut short by a kill, is not an item).
TEST(Manifest, CheckpointFormReadsItsItemsFromTheLog) {
  testing::TempDir dir;
  const Manifest m = sample();
  auto log = ItemLog::create(dir.path() / "manifest.items.1.jsonl");
  ASSERT_TRUE(log) << log.status().message();
  for (const ManifestItem& item : m.items) ASSERT_TRUE(log.value()->append(item));
  ASSERT_TRUE(log.value()->sync());
  Manifest checkpoint = m;
  checkpoint.items.clear();
  checkpoint.items_log = ManifestItemLog{"manifest.items.1.jsonl", log.value()->synced_bytes()};
  ASSERT_TRUE(write_manifest(dir.path() / "manifest.json", checkpoint));
  ManifestItem late = m.items[0];
  late.id = "late";
  late.index = 7;
  ASSERT_TRUE(log.value()->append(late));  // after the checkpoint: not recorded
  const auto raw = nlohmann::json::parse(read_file(dir.path() / "manifest.json").value());
  EXPECT_FALSE(raw.contains("items")) << "a reader that ignores items_log must not see an empty run";
  EXPECT_EQ(raw["items_log"]["path"], "manifest.items.1.jsonl");

  auto back = read_manifest(dir.path() / "manifest.json");
  ASSERT_TRUE(back) << back.status().message();
  EXPECT_FALSE(back.value().items_log.has_value());
  ASSERT_EQ(back.value().items.size(), 2u);
  EXPECT_EQ(back.value().items[0].id, "a");  // in index order
  EXPECT_EQ(back.value().items[1].id, "b");
  EXPECT_EQ(back.value().items[1].outputs.size(), 3u);
  EXPECT_EQ(manifest_to_json(back.value()), manifest_to_json(m));

  // The log visited in index order, and the final manifest streamed from it equals the inline one.
  std::vector<std::string> ids;
  ASSERT_TRUE(log.value()->for_each([&](const ManifestItem& item) {
    ids.push_back(item.id);
    return Status::ok();
  }));
  EXPECT_EQ(ids, (std::vector<std::string>{"a", "b", "late"}));
  ids.clear();
  ASSERT_TRUE(log.value()->for_each([&](const ManifestItem& item) {
    ids.push_back(item.id);
    return Status::ok();
  }, true));
  EXPECT_EQ(ids, (std::vector<std::string>{"b", "late"}));
  ASSERT_TRUE(write_manifest(dir.path() / "final.json", m, [&](const std::function<Status(const ManifestItem&)>& visit) {
    return log.value()->for_each(visit);
  }));
  Manifest with_late = m;
  with_late.items.push_back(late);
  EXPECT_EQ(read_file(dir.path() / "final.json").value(), manifest_to_json(with_late));
}

TEST(Manifest, ItemLogReferencesAreCheckedAndNamed) {
  testing::TempDir dir;
  auto log = ItemLog::create(dir.path() / "manifest.items.1.jsonl");
  ASSERT_TRUE(log);
  ASSERT_TRUE(log.value()->append(sample().items[0]));
  ASSERT_TRUE(log.value()->sync());
  const std::int64_t bytes = log.value()->synced_bytes();
  auto read_with = [&](const std::string& path, std::int64_t length) {
    Manifest m = sample();
    m.items.clear();
    m.items_log = ManifestItemLog{path, length};
    EXPECT_TRUE(write_manifest(dir.path() / "manifest.json", m));
    return read_manifest(dir.path() / "manifest.json");
  };
  for (const std::string hostile : {"../manifest.items.1.jsonl", "/etc/passwd", "sub/x.jsonl", "", ".."}) {
    auto r = read_with(hostile, bytes);
    ASSERT_FALSE(r) << hostile;
    EXPECT_NE(r.status().message().find("items_log must name a file beside the manifest"), std::string::npos)
        << r.status().message();
  }
  auto longer = read_with("manifest.items.1.jsonl", bytes + 10);
  ASSERT_FALSE(longer);
  EXPECT_NE(longer.status().message().find("the manifest recorded " + std::to_string(bytes + 10)), std::string::npos)
      << longer.status().message();
  auto inside_a_line = read_with("manifest.items.1.jsonl", bytes - 3);
  ASSERT_FALSE(inside_a_line);
  EXPECT_NE(inside_a_line.status().message().find("manifest.items.1.jsonl:1: the recorded part ends inside a line"),
            std::string::npos)
      << inside_a_line.status().message();
  auto missing = read_with("manifest.items.9.jsonl", 0);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.status().message().find("manifest.items.9.jsonl"), std::string::npos);
}

TEST(Manifest, ProvenanceAndWarningsRoundTrip) {
  Manifest m = sample();
  m.run.warnings = {"model 'net' has random weights"};
  m.configurations = {{fingerprint("old"), "pipelines/x.yaml", {}, "2024-05-01T12:00:00Z"},
                      {m.run.pipeline_hash, "pipelines/x.yaml", {"--set stages.lrp.options.rules=zplus"}, "2024-05-02T08:00:00Z"}};
  m.items[0].pipeline_hash = m.run.pipeline_hash;  // "b", index 1
  m.items[1].pipeline_hash = fingerprint("old");   // "a", index 0: written first
  const auto parsed = nlohmann::json::parse(manifest_to_json(m));
  EXPECT_EQ(parsed["items"][0]["pipeline_hash"], fingerprint("old"));  // item "a" (index 0)
  EXPECT_EQ(parsed["configurations"][1]["overrides"][0], "--set stages.lrp.options.rules=zplus");
  EXPECT_EQ(parsed["run"]["warnings"][0], "model 'net' has random weights");
  auto back = manifest_from_json(manifest_to_json(m), "m.json");
  ASSERT_TRUE(back.is_ok()) << back.status().message();
  EXPECT_EQ(back.value().run.warnings, m.run.warnings);
  ASSERT_EQ(back.value().configurations.size(), 2u);
  EXPECT_EQ(back.value().configurations[1].overrides, m.configurations[1].overrides);
  EXPECT_EQ(back.value().configurations[0].started_at, "2024-05-01T12:00:00Z");
  EXPECT_EQ(items_per_configuration(back.value()),
            (std::map<std::string, std::int64_t>{{fingerprint("old"), 1}, {m.run.pipeline_hash, 1}}));

  // add_configuration keeps one entry per hash, with the earliest start.
  add_configuration(m, {fingerprint("old"), "other.yaml", {}, "2024-04-01T00:00:00Z"});
  ASSERT_EQ(m.configurations.size(), 2u);
  EXPECT_EQ(m.configurations[0].started_at, "2024-04-01T00:00:00Z");
}

TEST(Manifest, OlderManifestsReadAsOneConfiguration) {
  // Written before items carried a pipeline hash: every item is the run's configuration.
  const std::string old = R"({"format": 1, "run": {"pipeline_file": "p.yaml", "pipeline_hash": "fnv1a64:00000000000000aa",
    "started_at": "2024-05-01T12:00:00Z"}, "items": [{"id": "a", "index": 0, "status": "ok"}]})";
  auto back = manifest_from_json(old, "m.json");
  ASSERT_TRUE(back.is_ok()) << back.status().message();
  ASSERT_EQ(back.value().configurations.size(), 1u);
  EXPECT_EQ(back.value().configurations[0].pipeline_hash, "fnv1a64:00000000000000aa");
  EXPECT_EQ(back.value().items[0].pipeline_hash, "fnv1a64:00000000000000aa");
  EXPECT_TRUE(back.value().run.warnings.empty());
}

TEST(Manifest, NonFiniteMetricsStayValidJson) {
  Manifest m = sample();
  ASSERT_EQ(m.items[1].id, "a");
  m.items[1].metrics["ratio"] = std::nan("");
  const std::string json = manifest_to_json(m);
  EXPECT_NO_THROW(nlohmann::json::parse(json));
  auto back = manifest_from_json(json, "m.json");
  ASSERT_TRUE(back.is_ok());
  EXPECT_TRUE(std::isnan(back.value().items[0].metrics.at("ratio")));
}

TEST(Manifest, CorruptManifestsAreErrorsNamingTheFile) {
  EXPECT_EQ(manifest_from_json("[1, 2]", "out/manifest.json").status().message(),
            "out/manifest.json: not a manifest (expected a JSON object)");
  EXPECT_EQ(manifest_from_json("{\"format\": 7}", "out/manifest.json").status().message(),
            "out/manifest.json: unsupported manifest format (expected \"format\": 1)");
  const std::string truncated = manifest_to_json(sample()).substr(0, 100);
  EXPECT_EQ(manifest_from_json(truncated, "out/manifest.json").status().message().rfind("out/manifest.json: corrupt manifest", 0),
            0u);
  const auto bad_status = manifest_from_json(
      R"({"format": 1, "run": {}, "items": [{"id": "x", "index": 0, "status": "maybe"}]})", "m.json");
  EXPECT_EQ(bad_status.status().message(), "m.json: item 'x' has status 'maybe' (expected ok or error)");
  EXPECT_EQ(read_manifest("/nonexistent/manifest.json").status().message(), "/nonexistent/manifest.json: no such file");
}

TEST(Manifest, NumbersThatAreNotIntegersOfTheirRangeAreErrorsNamingTheField) {
  // Found by tests/fuzz/manifest_fuzz.cpp under UBSan: 1e300 was cast to an int (undefined
  // behaviour), 2^40 threads wrapped around, and "format": 1.9 was read as format 1.
  struct Case {
    std::string json, field;
  };
  for (const Case& c : {Case{R"({"format": 1, "run": {"threads": 1e300}, "items": []})", "'threads' is 1e+300"},
                        Case{R"({"format": 1, "run": {"max_in_flight": 1099511627776}, "items": []})", "'max_in_flight' is 1099511627776"},
                        Case{R"({"format": 1, "run": {"items_total": -1.5}, "items": []})", "'items_total' is -1.5"},
                        Case{R"({"format": 1, "run": {"shard": {"index": 1e30, "count": 2}}, "items": []})", "'index' is 1e+30"},
                        Case{R"({"format": 1, "run": {}, "items": [{"id": "a", "index": 1e30, "status": "ok"}]})", "'index' is 1e+30"},
                        Case{R"({"format": 1, "run": {}, "items": [], "stages": [{"id": "s", "count": 18446744073709551615, "mean_ms": 1, "p95_ms": 1}]})",
                             "'count' is 18446744073709551615"}}) {
    const auto parsed = manifest_from_json(c.json, "m.json");
    ASSERT_FALSE(parsed) << c.json;
    EXPECT_EQ(parsed.status().message().rfind("m.json: corrupt manifest: " + c.field + ", not an integer from ", 0), 0u)
        << parsed.status().message();
  }
  EXPECT_EQ(manifest_from_json(R"({"format": 1.9, "run": {}, "items": []})", "m.json").status().message(),
            "m.json: unsupported manifest format (expected \"format\": 1)");
  // Integers in range still read as before.
  const auto fine = manifest_from_json(R"({"format": 1, "run": {"threads": 4, "items_total": 9007199254740993}, "items": []})", "m.json");
  ASSERT_TRUE(fine) << fine.status().message();
  EXPECT_EQ(fine.value().run.threads, 4);
  EXPECT_EQ(fine.value().run.items_total, 9007199254740993);
}

TEST(Manifest, WritesAtomicallyAndReplacesTheOldFile) {
  testing::TempDir dir;
  const fs::path path = dir.path() / "run" / "manifest.json";
  Manifest m = sample();
  ASSERT_TRUE(write_manifest(path, m).is_ok());
  m.run.state = "interrupted";
  ASSERT_TRUE(write_manifest(path, m).is_ok());
  EXPECT_EQ(read_manifest(path).value().run.state, "interrupted");
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(path.parent_path())) names.push_back(entry.path().filename());
  EXPECT_EQ(names, std::vector<std::string>{"manifest.json"});  // no *.tmp-* left behind
}

TEST(Manifest, OutputsExistChecksEveryFile) {
  testing::TempDir dir;
  ManifestItem item;
  item.outputs = {{"a", "x/a.txt"}, {"b", "b.txt"}};
  EXPECT_FALSE(outputs_exist(item, dir.path()));
  ASSERT_TRUE(write_file_atomic(dir.path() / "x/a.txt", "a").is_ok());
  EXPECT_FALSE(outputs_exist(item, dir.path()));
  ASSERT_TRUE(write_file_atomic(dir.path() / "b.txt", "b").is_ok());
  EXPECT_TRUE(outputs_exist(item, dir.path()));
  EXPECT_TRUE(outputs_exist(ManifestItem{}, dir.path()));  // nothing to check
}

TEST(Manifest, CheckOutputsComparesRecordedSizesAndRefusesPathsOutsideTheFolder) {
  testing::TempDir dir;
  ASSERT_TRUE(write_file_atomic(dir.path() / "x/a.txt", "abc").is_ok());
  ManifestItem item;
  item.outputs = {{"a", "x/a.txt"}};
  record_output_sizes(item, dir.path());
  EXPECT_EQ(item.output_bytes, (std::map<std::string, std::int64_t>{{"x/a.txt", 3}}));
  EXPECT_TRUE(check_outputs(item, dir.path()).is_ok());
  // The sizes survive the manifest's JSON.
  Manifest m;
  m.items.push_back(item);
  auto back = manifest_from_json(manifest_to_json(m), "m.json");
  ASSERT_TRUE(back.is_ok()) << back.status().message();
  EXPECT_EQ(back.value().items[0].output_bytes, item.output_bytes);

  fs::resize_file(dir.path() / "x/a.txt", 0);  // what a full disk used to leave
  const Status cut = check_outputs(item, dir.path());
  ASSERT_FALSE(cut.is_ok());
  EXPECT_EQ(cut.message(), "output a 'x/a.txt' has 0 bytes, 3 were recorded");

  ManifestItem outside;
  outside.id = "evil";
  outside.outputs = {{"text", "/etc/passwd"}};
  EXPECT_FALSE(check_outputs(outside, dir.path()).is_ok());  // although /etc/passwd exists
  Manifest with_outside;
  with_outside.items.push_back(outside);
  const Status paths = check_manifest_paths(with_outside, dir.path(), "m.json");
  ASSERT_FALSE(paths.is_ok());
  EXPECT_NE(paths.message().find("m.json: item 'evil', output text: '/etc/passwd' is an absolute path"), std::string::npos)
      << paths.message();
  Manifest run_output_outside;
  run_output_outside.run_outputs = {{"fidelity_csv", "../../x.csv"}};
  EXPECT_NE(check_manifest_paths(run_output_outside, dir.path(), "m.json").message().find("m.json: run output fidelity_csv: '../../x.csv' leads out of"),
            std::string::npos);
}

TEST(Manifest, FingerprintIsFnv1a64) {
  // Published FNV-1a 64-bit test vectors.
  EXPECT_EQ(fingerprint(""), "fnv1a64:cbf29ce484222325");
  EXPECT_EQ(fingerprint("a"), "fnv1a64:af63dc4c8601ec8c");
  EXPECT_EQ(fingerprint("foobar"), "fnv1a64:85944171f73967e8");
}

TEST(Manifest, TimestampsAreIsoUtc) {
  const std::string t = utc_timestamp();
  ASSERT_EQ(t.size(), 20u) << t;
  EXPECT_EQ(t[4], '-');
  EXPECT_EQ(t[10], 'T');
  EXPECT_EQ(t.back(), 'Z');
}

}  // namespace
}  // namespace lrpflow
