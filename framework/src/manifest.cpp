#include "lrpflow/manifest.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <limits>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "lrpflow/files.h"

namespace lrpflow {
namespace fs = std::filesystem;
using json = nlohmann::ordered_json;  // keys in the order written: format, run, items, ...

namespace {

// Outputs as {kind: [paths]}, keeping the order in which they were added within a kind.
json outputs_to_json(const std::vector<OutputFile>& outputs) {
  json out = json::object();
  for (const OutputFile& file : outputs) out[file.kind].push_back(file.path);
  return out;
}

std::vector<OutputFile> outputs_from_json(const json& j) {
  std::vector<OutputFile> out;
  for (auto it = j.begin(); it != j.end(); ++it) {
    for (const json& path : it.value()) out.push_back({it.key(), path.get<std::string>()});
  }
  return out;
}

// A field that is there but unusable; manifest_from_json reports it like a JSON error.
struct BadField : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// An integer field of `object` (`fallback` when absent): a JSON integer within T's range.
// nlohmann's get<T>() would cast 1e300 or 2^40 to an int, which is undefined behaviour or a
// silent wrap-around, and would take 1.9 for 1.
template <typename T>
T integer_field(const json& object, const char* key, std::optional<T> fallback = std::nullopt) {
  const json& value = fallback && !object.contains(key) ? json(*fallback) : object.at(key);
  bool in_range = false;
  if (value.is_number_unsigned()) {
    in_range = value.get<std::uint64_t>() <= static_cast<std::uint64_t>(std::numeric_limits<T>::max());
  } else if (value.is_number_integer()) {
    const std::int64_t v = value.get<std::int64_t>();
    in_range = v >= static_cast<std::int64_t>(std::numeric_limits<T>::min()) &&
               v <= static_cast<std::int64_t>(std::numeric_limits<T>::max());
  }
  if (!in_range) throw BadField("'" + std::string(key) + "' is " + value.dump() + ", not an integer from " +
                                std::to_string(std::numeric_limits<T>::min()) + " to " +
                                std::to_string(std::numeric_limits<T>::max()));
  return static_cast<T>(value.get<std::int64_t>());
}

// JSON has no NaN or infinity: write them as null so the file stays valid JSON.
json number_or_null(double value) {
  if (std::isfinite(value)) return value;
  return nullptr;
}

}  // namespace

void add_configuration(Manifest& manifest, const ManifestConfiguration& configuration) {
  for (ManifestConfiguration& known : manifest.configurations) {
    if (known.pipeline_hash != configuration.pipeline_hash) continue;
    if (!configuration.started_at.empty() && (known.started_at.empty() || configuration.started_at < known.started_at)) {
      known.started_at = configuration.started_at;
    }
    return;
  }
  manifest.configurations.push_back(configuration);
}

std::map<std::string, std::int64_t> items_per_configuration(const Manifest& manifest) {
  std::map<std::string, std::int64_t> counts;
  for (const ManifestItem& item : manifest.items) ++counts[item.pipeline_hash];
  return counts;
}

std::string manifest_to_json(const Manifest& manifest) {
  json j;
  j["format"] = kManifestFormatVersion;
  const ManifestRunInfo& r = manifest.run;
  j["run"] = {{"pipeline_file", r.pipeline_file}, {"pipeline_hash", r.pipeline_hash},
              {"inputs_hash", r.inputs_hash},     {"lrpflow_version", r.lrpflow_version},
              {"started_at", r.started_at},       {"finished_at", r.finished_at},
              {"state", r.state},                 {"threads", r.threads},
              {"max_in_flight", r.max_in_flight}, {"items_total", r.items_total}};
  if (r.shard_count > 1) j["run"]["shard"] = {{"index", r.shard_index}, {"count", r.shard_count}};
  j["run"]["warnings"] = r.warnings;
  j["configurations"] = json::array();
  for (const ManifestConfiguration& c : manifest.configurations) {
    j["configurations"].push_back({{"pipeline_hash", c.pipeline_hash}, {"pipeline_file", c.pipeline_file},
                                   {"overrides", c.overrides}, {"started_at", c.started_at}});
  }
  std::vector<const ManifestItem*> items;
  for (const ManifestItem& item : manifest.items) items.push_back(&item);
  std::stable_sort(items.begin(), items.end(), [](const ManifestItem* a, const ManifestItem* b) { return a->index < b->index; });
  j["items"] = json::array();
  for (const ManifestItem* item : items) {
    json ji = {{"id", item->id}, {"source", item->source}, {"index", item->index},
               {"status", item->ok ? "ok" : "error"}, {"pipeline_hash", item->pipeline_hash}};
    if (item->error) ji["error"] = {{"stage", item->error->stage}, {"message", item->error->message}};
    ji["outputs"] = outputs_to_json(item->outputs);
    json metrics = json::object();
    for (const auto& [name, value] : item->metrics) metrics[name] = number_or_null(value);
    ji["metrics"] = metrics;
    json timings = json::object();
    for (const auto& [stage, ms] : item->timings_ms) timings[stage] = number_or_null(ms);
    ji["timings_ms"] = timings;
    j["items"].push_back(std::move(ji));
  }
  j["run_outputs"] = outputs_to_json(manifest.run_outputs);
  j["stages"] = json::array();
  for (const StageStats& s : manifest.stages) {
    j["stages"].push_back({{"id", s.id}, {"type", s.type}, {"count", s.count},
                           {"mean_ms", number_or_null(s.mean_ms)}, {"p95_ms", number_or_null(s.p95_ms)}});
  }
  return j.dump(2) + "\n";
}

Result<Manifest> manifest_from_json(std::string_view text, const std::string& origin) {
  Manifest m;
  try {
    const json j = json::parse(text.begin(), text.end());
    if (!j.is_object()) return Status::error(origin + ": not a manifest (expected a JSON object)");
    if (!j.contains("format") || !j.at("format").is_number_integer() || j.at("format").get<std::int64_t>() != kManifestFormatVersion) {
      return Status::error(origin + ": unsupported manifest format (expected \"format\": " +
                           std::to_string(kManifestFormatVersion) + ")");
    }
    const json& r = j.at("run");
    m.run.pipeline_file = r.value("pipeline_file", "");
    m.run.pipeline_hash = r.value("pipeline_hash", "");
    m.run.inputs_hash = r.value("inputs_hash", "");
    m.run.lrpflow_version = r.value("lrpflow_version", "");
    m.run.started_at = r.value("started_at", "");
    m.run.finished_at = r.value("finished_at", "");
    m.run.state = r.value("state", "");
    m.run.threads = integer_field<int>(r, "threads", 0);
    m.run.max_in_flight = integer_field<int>(r, "max_in_flight", 0);
    m.run.items_total = integer_field<std::int64_t>(r, "items_total", 0);
    if (r.contains("warnings")) m.run.warnings = r.at("warnings").get<std::vector<std::string>>();
    if (r.contains("shard")) {
      m.run.shard_index = integer_field<std::int64_t>(r.at("shard"), "index", 0);
      m.run.shard_count = integer_field<std::int64_t>(r.at("shard"), "count", 1);
    }
    if (j.contains("configurations")) {
      for (const json& jc : j.at("configurations")) {
        ManifestConfiguration c;
        c.pipeline_hash = jc.at("pipeline_hash").get<std::string>();
        c.pipeline_file = jc.value("pipeline_file", "");
        if (jc.contains("overrides")) c.overrides = jc.at("overrides").get<std::vector<std::string>>();
        c.started_at = jc.value("started_at", "");
        m.configurations.push_back(std::move(c));
      }
    } else {
      // Written before manifests listed configurations: the run's own is the only one.
      m.configurations.push_back({m.run.pipeline_hash, m.run.pipeline_file, {}, m.run.started_at});
    }
    for (const json& ji : j.at("items")) {
      ManifestItem item;
      item.id = ji.at("id").get<std::string>();
      item.pipeline_hash = ji.value("pipeline_hash", m.run.pipeline_hash);
      item.source = ji.value("source", "");
      item.index = integer_field<std::int64_t>(ji, "index");
      const std::string status = ji.at("status").get<std::string>();
      if (status != "ok" && status != "error") {
        return Status::error(origin + ": item '" + item.id + "' has status '" + status + "' (expected ok or error)");
      }
      item.ok = status == "ok";
      if (ji.contains("error")) {
        item.error = ItemError{ji.at("error").value("stage", ""), ji.at("error").value("message", "")};
      }
      if (ji.contains("outputs")) item.outputs = outputs_from_json(ji.at("outputs"));
      if (ji.contains("metrics")) {
        for (auto it = ji.at("metrics").begin(); it != ji.at("metrics").end(); ++it) {
          item.metrics[it.key()] = it.value().is_null() ? std::nan("") : it.value().get<double>();
        }
      }
      if (ji.contains("timings_ms")) {
        for (auto it = ji.at("timings_ms").begin(); it != ji.at("timings_ms").end(); ++it) {
          item.timings_ms[it.key()] = it.value().is_null() ? std::nan("") : it.value().get<double>();
        }
      }
      m.items.push_back(std::move(item));
    }
    if (j.contains("run_outputs")) m.run_outputs = outputs_from_json(j.at("run_outputs"));
    if (j.contains("stages")) {
      for (const json& js : j.at("stages")) {
        StageStats s;
        s.id = js.at("id").get<std::string>();
        s.type = js.value("type", "");
        s.count = integer_field<std::int64_t>(js, "count", 0);
        s.mean_ms = js.at("mean_ms").is_null() ? 0 : js.at("mean_ms").get<double>();
        s.p95_ms = js.at("p95_ms").is_null() ? 0 : js.at("p95_ms").get<double>();
        m.stages.push_back(std::move(s));
      }
    }
  } catch (const json::exception& e) {
    return Status::error(origin + ": corrupt manifest: " + e.what());
  } catch (const BadField& e) {
    return Status::error(origin + ": corrupt manifest: " + e.what());
  }
  return m;
}

Status write_manifest(const fs::path& path, const Manifest& manifest) {
  // The manifest records files as done: they reach the disk first, in one batch (files.h).
  if (Status flushed = flush_written_files(); !flushed) return Status::error("not writing " + path.string() + ": " + flushed.message());
  LRPFLOW_RETURN_IF_ERROR(write_file_atomic(path, manifest_to_json(manifest)));
  return flush_written_files();
}

Result<Manifest> read_manifest(const fs::path& path) {
  auto text = read_file(path);
  if (!text) return text.status();
  return manifest_from_json(text.value(), path.string());
}

bool outputs_exist(const ManifestItem& item, const fs::path& output_dir) {
  for (const OutputFile& file : item.outputs) {
    std::error_code ec;
    const fs::path path = fs::path(file.path).is_absolute() ? fs::path(file.path) : output_dir / file.path;
    if (!fs::exists(path, ec)) return false;
  }
  return true;
}

std::string fingerprint(std::string_view bytes) {
  std::uint64_t hash = 14695981039346656037ull;
  for (unsigned char c : bytes) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  char text[32];
  std::snprintf(text, sizeof text, "fnv1a64:%016llx", static_cast<unsigned long long>(hash));
  return text;
}

#ifndef LRPFLOW_VERSION
#define LRPFLOW_VERSION "unknown"
#endif
const char* lrpflow_version() { return LRPFLOW_VERSION; }

std::string utc_timestamp() {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  ::gmtime_r(&now, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

}  // namespace lrpflow
