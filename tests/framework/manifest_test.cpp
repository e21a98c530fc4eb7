// Manifest: JSON round trip, corrupt files, atomic writes, output checks, fingerprints.
#include <fstream>
#include <map>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "lrpflow/files.h"
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
  test::TempDir dir;
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
  test::TempDir dir;
  ManifestItem item;
  item.outputs = {{"a", "x/a.txt"}, {"b", "b.txt"}};
  EXPECT_FALSE(outputs_exist(item, dir.path()));
  ASSERT_TRUE(write_file_atomic(dir.path() / "x/a.txt", "a").is_ok());
  EXPECT_FALSE(outputs_exist(item, dir.path()));
  ASSERT_TRUE(write_file_atomic(dir.path() / "b.txt", "b").is_ok());
  EXPECT_TRUE(outputs_exist(item, dir.path()));
  EXPECT_TRUE(outputs_exist(ManifestItem{}, dir.path()));  // nothing to check
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
