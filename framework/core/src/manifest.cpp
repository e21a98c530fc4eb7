#include "lrpflow/manifest.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <limits>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "lrpflow/files.h"
#include "lrpflow/item_log.h"

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

namespace {

json item_to_json(const ManifestItem& item) {
  json ji = {{"id", item.id}, {"source", item.source}, {"index", item.index},
             {"status", item.ok ? "ok" : "error"}, {"pipeline_hash", item.pipeline_hash}};
  if (item.error) ji["error"] = {{"stage", item.error->stage}, {"message", item.error->message}};
  ji["outputs"] = outputs_to_json(item.outputs);
  if (!item.output_bytes.empty()) ji["output_bytes"] = item.output_bytes;
  json metrics = json::object();
  for (const auto& [name, value] : item.metrics) metrics[name] = number_or_null(value);
  ji["metrics"] = metrics;
  json timings = json::object();
  for (const auto& [stage, ms] : item.timings_ms) timings[stage] = number_or_null(ms);
  ji["timings_ms"] = timings;
  return ji;
}

// Throws json::exception on a malformed item (the callers turn it into an error naming the file).
Result<ManifestItem> item_from_json(const json& ji, const std::string& origin, const std::string& default_pipeline_hash) {
  ManifestItem item;
  item.id = ji.at("id").get<std::string>();
  item.pipeline_hash = ji.value("pipeline_hash", default_pipeline_hash);
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
  if (ji.contains("output_bytes")) item.output_bytes = ji.at("output_bytes").get<std::map<std::string, std::int64_t>>();
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
  return item;
}

// `value` as json::dump(2) writes it nested `depth` levels deep.
// Ids, sources and error messages arrive escaped (escape_invalid_utf8); any other text that is not
// UTF-8 (a path given on the command line, a stage's warning) gets U+FFFD rather than aborting the
// run with nlohmann's type_error 316 and leaving the manifest "running".
std::string nested_dump(const json& value, int depth) {
  std::string text = value.dump(2, ' ', false, json::error_handler_t::replace);
  const std::string indent(static_cast<std::size_t>(2 * depth), ' ');
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    out += c;
    if (c == '\n') out += indent;
  }
  return out;
}

}  // namespace

Status write_manifest_json(const Manifest& manifest, const ManifestItemSource& items,
                           const std::function<Status(std::string_view)>& out) {
  // Written member by member in the layout of json::dump(2), so that the items can be streamed.
  json head;
  head["format"] = kManifestFormatVersion;
  const ManifestRunInfo& r = manifest.run;
  head["run"] = {{"pipeline_file", r.pipeline_file}, {"pipeline_hash", r.pipeline_hash},
                 {"inputs_hash", r.inputs_hash},     {"lrpflow_version", r.lrpflow_version},
                 {"started_at", r.started_at},       {"finished_at", r.finished_at},
                 {"state", r.state},                 {"threads", r.threads},
                 {"max_in_flight", r.max_in_flight}, {"items_total", r.items_total}};
  if (r.shard_count > 1) head["run"]["shard"] = {{"index", r.shard_index}, {"count", r.shard_count}};
  head["run"]["warnings"] = r.warnings;
  head["configurations"] = json::array();
  for (const ManifestConfiguration& c : manifest.configurations) {
    head["configurations"].push_back({{"pipeline_hash", c.pipeline_hash}, {"pipeline_file", c.pipeline_file},
                                      {"overrides", c.overrides}, {"started_at", c.started_at}});
  }
  json tail;
  if (manifest.items_log) tail["items_log"] = {{"path", manifest.items_log->path}, {"bytes", manifest.items_log->bytes}};
  tail["run_outputs"] = outputs_to_json(manifest.run_outputs);
  tail["stages"] = json::array();
  for (const StageStats& s : manifest.stages) {
    tail["stages"].push_back({{"id", s.id}, {"type", s.type}, {"count", s.count},
                              {"mean_ms", number_or_null(s.mean_ms)}, {"p95_ms", number_or_null(s.p95_ms)}});
  }
  auto member = [&](const std::string& key, const json& value, bool first) {
    return out(std::string(first ? "{\n  " : ",\n  ") + json(key).dump(-1, ' ', false, json::error_handler_t::replace) + ": " + nested_dump(value, 1));
  };
  bool first = true;
  for (auto it = head.begin(); it != head.end(); ++it, first = false) LRPFLOW_RETURN_IF_ERROR(member(it.key(), it.value(), first));
  if (!manifest.items_log) {
    // The checkpoint form has no "items": a reader that ignores "items_log" fails instead of seeing none.
    LRPFLOW_RETURN_IF_ERROR(out(",\n  \"items\": ["));
    bool any = false;
    LRPFLOW_RETURN_IF_ERROR(items([&](const ManifestItem& item) {
      const Status written = out(std::string(any ? ",\n    " : "\n    ") + nested_dump(item_to_json(item), 2));
      any = true;
      return written;
    }));
    LRPFLOW_RETURN_IF_ERROR(out(any ? "\n  ]" : "]"));
  }
  for (auto it = tail.begin(); it != tail.end(); ++it) LRPFLOW_RETURN_IF_ERROR(member(it.key(), it.value(), false));
  return out("\n}\n");
}

std::string manifest_to_json(const Manifest& manifest) {
  std::vector<const ManifestItem*> items;
  for (const ManifestItem& item : manifest.items) items.push_back(&item);
  std::stable_sort(items.begin(), items.end(), [](const ManifestItem* a, const ManifestItem* b) { return a->index < b->index; });
  std::string text;
  const Status written = write_manifest_json(
      manifest,
      [&](const std::function<Status(const ManifestItem&)>& visit) {
        for (const ManifestItem* item : items) LRPFLOW_RETURN_IF_ERROR(visit(*item));
        return Status::ok();
      },
      [&](std::string_view piece) {
        text += piece;
        return Status::ok();
      });
  (void)written;  // appending to a string cannot fail
  return text;
}

std::string manifest_item_to_json_line(const ManifestItem& item) {
  return item_to_json(item).dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

Result<ManifestItem> manifest_item_from_json(std::string_view text, const std::string& origin,
                                             const std::string& default_pipeline_hash) {
  try {
    const json ji = json::parse(text.begin(), text.end());
    if (!ji.is_object()) return Status::error(origin + ": not an item (expected a JSON object)");
    return item_from_json(ji, origin, default_pipeline_hash);
  } catch (const json::exception& e) {
    return Status::error(origin + ": corrupt item record: " + e.what());
  } catch (const BadField& e) {
    return Status::error(origin + ": corrupt item record: " + e.what());
  }
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
    if (j.contains("items_log")) {
      m.items_log = ManifestItemLog{j.at("items_log").at("path").get<std::string>(),
                                    integer_field<std::int64_t>(j.at("items_log"), "bytes")};
    } else {
      for (const json& ji : j.at("items")) {
        auto item = item_from_json(ji, origin, m.run.pipeline_hash);
        if (!item) return item.status();
        m.items.push_back(std::move(item).value());
      }
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

Status write_manifest(const fs::path& path, const Manifest& manifest, const ManifestItemSource& items) {
  if (Status flushed = flush_written_files(); !flushed) return Status::error("not writing " + path.string() + ": " + flushed.message());
  LRPFLOW_RETURN_IF_ERROR(write_file_atomic_with(path, [&](const fs::path& tmp) -> Status {
    std::FILE* file = std::fopen(tmp.c_str(), "wb");
    if (!file) return Status::error("cannot create " + tmp.string() + ": " + std::strerror(errno));
    Status written = write_manifest_json(manifest, items, [&](std::string_view piece) {
      if (std::fwrite(piece.data(), 1, piece.size(), file) != piece.size())
        return Status::error("cannot write " + tmp.string() + ": " + std::strerror(errno));
      return Status::ok();
    });
    if (written && std::fflush(file) != 0) written = Status::error("cannot write " + tmp.string() + ": " + std::strerror(errno));
    if (std::fclose(file) != 0 && written) written = Status::error("cannot write " + tmp.string() + ": " + std::strerror(errno));
    return written;
  }));
  return flush_written_files();
}

Result<Manifest> read_manifest(const fs::path& path) {
  auto text = read_file(path);
  if (!text) return text.status();
  auto manifest = manifest_from_json(text.value(), path.string());
  if (!manifest || !manifest.value().items_log) return manifest;
  // Checkpoint form: the items are in the log beside the manifest, which names it.
  const ManifestItemLog log = *manifest.value().items_log;
  const fs::path name(log.path);
  if (log.path.empty() || name.has_parent_path() || name.filename() != name || log.path == "." || log.path == ".." ||
      log.bytes < 0)
    return Status::error(path.string() + ": items_log must name a file beside the manifest, not '" + log.path + "'");
  auto items = read_item_log(path.parent_path() / name, log.bytes, manifest.value().run.pipeline_hash);
  if (!items) return items.status().with_context(path.string());
  manifest.value().items = std::move(items).value();
  manifest.value().items_log.reset();
  return manifest;
}

Status check_outputs(const ManifestItem& item, const fs::path& output_dir) {
  for (const OutputFile& file : item.outputs) {
    const Result<fs::path> path = resolve_inside(output_dir, file.path);
    if (!path) return Status::error("output " + file.kind + ": " + path.status().message());
    std::error_code ec;
    if (!fs::is_regular_file(path.value(), ec)) return Status::error("output " + file.kind + " '" + file.path + "' is missing");
    const auto recorded = item.output_bytes.find(file.path);
    if (recorded == item.output_bytes.end()) continue;
    const std::uintmax_t size = fs::file_size(path.value(), ec);
    if (ec) return Status::error("output " + file.kind + " '" + file.path + "': " + ec.message());
    if (recorded->second < 0 || size != static_cast<std::uintmax_t>(recorded->second)) {
      return Status::error("output " + file.kind + " '" + file.path + "' has " + std::to_string(size) + " bytes, " +
                           std::to_string(recorded->second) + " were recorded");
    }
  }
  return Status::ok();
}

Status check_manifest_paths(const Manifest& manifest, const fs::path& output_dir, const std::string& origin) {
  for (const ManifestItem& item : manifest.items) {
    for (const OutputFile& file : item.outputs) {
      if (auto path = resolve_inside(output_dir, file.path); !path) {
        return Status::error(origin + ": item '" + item.id + "', output " + file.kind + ": " + path.status().message());
      }
    }
  }
  for (const OutputFile& file : manifest.run_outputs) {
    if (auto path = resolve_inside(output_dir, file.path); !path) {
      return Status::error(origin + ": run output " + file.kind + ": " + path.status().message());
    }
  }
  return Status::ok();
}

void record_output_sizes(ManifestItem& item, const fs::path& output_dir) {
  item.output_bytes.clear();
  for (const OutputFile& file : item.outputs) {
    std::error_code ec;
    const std::uintmax_t size = fs::file_size(output_dir / file.path, ec);
    if (!ec) item.output_bytes[file.path] = static_cast<std::int64_t>(size);
  }
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
