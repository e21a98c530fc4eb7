// Merging the manifests and run-level files of a sharded run (shard_merge.h).
#include "lrpflow/shard_merge.h"

#include <algorithm>
#include <regex>
#include <set>

#include <fmt/format.h>

#include "lrpflow/csv.h"
#include "lrpflow/files.h"
#include "lrpflow/registry.h"
#include "lrpflow/shard.h"

namespace lrpflow {
namespace fs = std::filesystem;

namespace {

std::string shard_name(std::int64_t index, std::int64_t count) {
  return std::to_string(index) + "/" + std::to_string(count);
}

std::string shard_suffix(std::int64_t index, std::int64_t count) { return Shard{index, count, {}}.suffix(); }

// One CSV from the shards' CSVs: rows matched on `keys`, value columns averaged weighted by `items`.
Result<std::string> merge_mean_csv(const std::vector<fs::path>& files, const std::vector<std::string>& keys) {
  CsvRow header;
  std::vector<std::size_t> key_columns;
  std::vector<std::size_t> value_columns;
  std::size_t items_column = 0;
  struct Row {
    CsvRow key;
    std::vector<double> weighted_sums;
    double items = 0;
  };
  std::vector<Row> rows;
  std::map<CsvRow, std::size_t> row_of;
  for (const fs::path& file : files) {
    const std::string origin = file.string();
    auto text = read_file(file);
    if (!text) return text.status();
    auto table = parse_csv_table(text.value(), origin);
    if (!table) return table.status();
    if (header.empty()) {
      header = table.value().header;
      for (const std::string& key : keys) {
        auto column = table.value().column(key, origin);
        if (!column) return column.status().with_context("cannot match rows on it");
        key_columns.push_back(column.value());
      }
      auto items = table.value().column("items", origin);
      if (!items) return items.status().with_context("cannot weight the means");
      items_column = items.value();
      for (std::size_t c = 0; c < header.size(); ++c) {
        if (c != items_column && std::find(key_columns.begin(), key_columns.end(), c) == key_columns.end()) {
          value_columns.push_back(c);
        }
      }
    } else if (table.value().header != header) {
      return Status::error(origin + ": its columns differ from " + files.front().string() + "'s");
    }
    for (std::size_t r = 0; r < table.value().rows.size(); ++r) {
      const CsvRow& fields = table.value().rows[r];
      CsvRow key;
      for (std::size_t c : key_columns) key.push_back(fields[c]);
      auto [it, inserted] = row_of.emplace(key, rows.size());
      if (inserted) rows.push_back({key, std::vector<double>(value_columns.size(), 0.0), 0});
      Row& row = rows[it->second];
      auto items = csv_number(table.value(), r, items_column, origin);
      if (!items) return items.status();
      for (std::size_t v = 0; v < value_columns.size(); ++v) {
        auto value = csv_number(table.value(), r, value_columns[v], origin);
        if (!value) return value.status();
        row.weighted_sums[v] += value.value() * items.value();
      }
      row.items += items.value();
    }
  }
  std::vector<CsvRow> out;
  for (const Row& row : rows) {
    CsvRow fields(header.size());
    for (std::size_t k = 0; k < key_columns.size(); ++k) fields[key_columns[k]] = row.key[k];
    for (std::size_t v = 0; v < value_columns.size(); ++v) {
      fields[value_columns[v]] = fmt::format("{:.9g}", row.items > 0 ? row.weighted_sums[v] / row.items : 0.0);
    }
    fields[items_column] = fmt::format("{:g}", row.items);
    out.push_back(std::move(fields));
  }
  return csv_text(header, out);
}

// "fidelity_sweep.shard-1-of-4.csv" -> "fidelity_sweep.csv".
std::string without_suffix(std::string path, const std::string& suffix) {
  const auto at = path.find(suffix);
  if (at != std::string::npos) path.erase(at, suffix.size());
  return path;
}

}  // namespace

Result<MergeResult> merge_shards(const fs::path& dir, const MergeOptions& options) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return Status::error(dir.string() + " is not a directory");

  // The shard manifests present, by count then index.
  static const std::regex shard_file(R"(manifest\.shard-(\d{1,9})-of-(\d{1,9})\.json)");
  std::map<std::int64_t, std::map<std::int64_t, fs::path>> found;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir, ec)) {
    std::smatch m;
    const std::string name = entry.path().filename().string();
    if (std::regex_match(name, m, shard_file)) found[std::stoll(m[2])][std::stoll(m[1])] = entry.path();
  }
  if (ec) return Status::error("cannot list " + dir.string() + ": " + ec.message());
  std::int64_t count = options.shard_count;
  if (count == 0) {
    if (found.empty()) {
      return Status::error(dir.string() + " holds no shard manifests (manifest.shard-I-of-N.json): run the shards with "
                           "--shard I/N first");
    }
    if (found.size() > 1) {
      std::string counts;
      for (const auto& [n, files] : found) counts += (counts.empty() ? "" : ", ") + std::to_string(n);
      return Status::error(dir.string() + " mixes shard manifests of runs with different shard counts (" + counts +
                           "): pass --count N to merge one of them, or remove the stale manifests");
    }
    count = found.begin()->first;
  }
  MergeResult result;
  for (const auto& [n, files] : found) {
    if (n != count) {
      result.warnings.push_back("ignored " + std::to_string(files.size()) + " manifest(s) of a run with " +
                                std::to_string(n) + " shards");
    }
  }
  const std::map<std::int64_t, fs::path> none;
  const std::map<std::int64_t, fs::path>& files = found.count(count) ? found.at(count) : none;
  // A --count that no manifest has is a typing error: say what is there instead of calling shard
  // 0 of it missing (and do not walk a billion missing shards under --mpi either).
  if (files.empty() && !found.empty() && !options.tolerate_failed_shards) {
    std::string counts;
    for (const auto& [n, files_of_n] : found) counts += (counts.empty() ? "" : " or ") + std::to_string(n);
    return Status::error("--count " + std::to_string(count) + ": " + dir.string() + " holds no manifest of a run with " +
                         std::to_string(count) + " shards (its shard manifests are of a run with " + counts + " shards)");
  }

  // Every shard present and complete, or (under --mpi) recorded as failed.
  std::map<std::int64_t, Manifest> shards;             // complete shards
  std::map<std::int64_t, std::string> failed;          // shard -> why
  std::map<std::int64_t, Manifest> partial;            // failed shards with a readable manifest
  for (std::int64_t i = 0; i < count; ++i) {
    const fs::path path = dir / ("manifest" + shard_suffix(i, count) + ".json");
    std::string problem;
    if (!files.count(i)) {
      problem = "shard " + shard_name(i, count) + " is missing (no " + path.string() + ")";
    } else {
      auto manifest = read_manifest(path);
      if (!manifest) {
        problem = "shard " + shard_name(i, count) + ": " + manifest.status().message();
      } else if (Status paths = check_manifest_paths(manifest.value(), dir, path.string()); !paths) {
        // A manifest naming files outside DIR is never merged, not even as a failed shard.
        return Status::error(paths.message());
      } else if (manifest.value().run.shard_index != i || manifest.value().run.shard_count != count) {
        problem = path.string() + " records shard " + shard_name(manifest.value().run.shard_index, manifest.value().run.shard_count) +
                  ", not " + shard_name(i, count);
      } else if (manifest.value().run.state != "complete") {
        problem = "shard " + shard_name(i, count) + " is not complete (" + path.string() + " has state '" +
                  manifest.value().run.state + "'); rerun it with --shard " + shard_name(i, count) + " --resume";
        partial[i] = manifest.value();
      } else {
        shards[i] = std::move(manifest.value());
      }
    }
    if (problem.empty()) continue;
    if (!options.tolerate_failed_shards) return Status::error(problem);
    auto reported = options.shard_failures.find(i);
    failed[i] = reported != options.shard_failures.end() ? reported->second : problem;
  }

  // One pipeline, one input list.
  const Manifest* reference = nullptr;
  std::int64_t reference_index = 0;
  auto check_same_run = [&](std::int64_t i, const Manifest& m) -> Status {
    if (!reference) {
      reference = &m, reference_index = i;
      return Status::ok();
    }
    const std::string a = (dir / ("manifest" + shard_suffix(reference_index, count) + ".json")).string();
    const std::string b = (dir / ("manifest" + shard_suffix(i, count) + ".json")).string();
    if (m.run.pipeline_hash != reference->run.pipeline_hash) {
      return Status::error(a + " and " + b + " come from different pipelines (pipeline hash " + reference->run.pipeline_hash +
                           " vs " + m.run.pipeline_hash + "): a mixed set of shards");
    }
    if (m.run.inputs_hash != reference->run.inputs_hash) {
      return Status::error(a + " and " + b + " come from different input lists (inputs hash " + reference->run.inputs_hash +
                           " vs " + m.run.inputs_hash + "): a mixed set of shards");
    }
    return Status::ok();
  };
  for (const auto& [i, m] : shards) LRPFLOW_RETURN_IF_ERROR(check_same_run(i, m));
  for (const auto& [i, m] : partial) LRPFLOW_RETURN_IF_ERROR(check_same_run(i, m));
  if (!reference && options.all_inputs.empty()) {
    return Status::error("no shard of " + std::to_string(count) + " finished, and the input list is unknown: nothing to merge");
  }

  Manifest& merged = result.manifest;
  if (reference) merged.run = reference->run;
  merged.run.shard_index = 0;
  merged.run.shard_count = 1;
  merged.run.state = "complete";
  merged.run.items_total = 0;
  // Every configuration some shard's items came from (more than one after a resume that allowed it).
  for (const auto& [i, m] : shards) {
    for (const ManifestConfiguration& c : m.configurations) add_configuration(merged, c);
  }
  for (const auto& [i, m] : partial) {
    for (const ManifestConfiguration& c : m.configurations) add_configuration(merged, c);
  }
  std::set<std::string> seen_ids;
  auto add_item = [&](const ManifestItem& item, std::int64_t i) -> Status {
    if (!seen_ids.insert(item.id).second) {
      return Status::error("item '" + item.id + "' is recorded by two shards (the second: " + shard_name(i, count) + ")");
    }
    if (!item.ok) ++result.items_failed;
    merged.items.push_back(item);
    return Status::ok();
  };
  for (const auto& [i, m] : shards) {
    for (const ManifestItem& item : m.items) LRPFLOW_RETURN_IF_ERROR(add_item(item, i));
    merged.run.items_total += m.run.items_total;
    if (merged.run.started_at.empty() || (!m.run.started_at.empty() && m.run.started_at < merged.run.started_at)) {
      merged.run.started_at = m.run.started_at;
    }
    merged.run.finished_at = std::max(merged.run.finished_at, m.run.finished_at);
  }
  // Failed shards: what they recorded, and an error for each of their other items.
  for (const auto& [i, why] : failed) {
    std::set<std::string> recorded;
    if (partial.count(i)) {
      for (const ManifestItem& item : partial.at(i).items) {
        LRPFLOW_RETURN_IF_ERROR(add_item(item, i));
        recorded.insert(item.id);
      }
    }
    std::int64_t shard_items = 0;
    for (std::size_t k = 0; k < options.all_inputs.size(); ++k) {
      if (static_cast<std::int64_t>(k) % count != i) continue;
      ++shard_items;
      const ItemRef& ref = options.all_inputs[k];
      if (recorded.count(ref.id)) continue;
      ManifestItem item;
      item.id = ref.id;
      item.source = ref.source;
      item.index = static_cast<std::int64_t>(k);
      item.pipeline_hash = merged.run.pipeline_hash;
      item.ok = false;
      item.error = ItemError{"rank " + std::to_string(i), "rank " + std::to_string(i) + " failed: " + why};
      LRPFLOW_RETURN_IF_ERROR(add_item(item, i));
    }
    merged.run.items_total += shard_items;
    result.warnings.push_back("shard " + shard_name(i, count) + " failed (" + why + "): its " + std::to_string(shard_items) +
                              " items are recorded as errors unless it finished them");
  }
  if (!failed.empty()) merged.run.state = "stopped";
  if (merged.run.finished_at.empty()) merged.run.finished_at = utc_timestamp();

  // Stage timings: counts add up, means weighted by count, p95 the largest shard p95 (an upper bound).
  std::vector<StageStats>& stages = merged.stages;
  for (const auto& [i, m] : shards) {
    for (const StageStats& s : m.stages) {
      auto it = std::find_if(stages.begin(), stages.end(), [&](const StageStats& t) { return t.id == s.id; });
      if (it == stages.end()) {
        stages.push_back(s);
        continue;
      }
      const std::int64_t total = it->count + s.count;
      it->mean_ms = total > 0 ? (it->mean_ms * static_cast<double>(it->count) + s.mean_ms * static_cast<double>(s.count)) /
                                    static_cast<double>(total)
                              : 0.0;
      it->p95_ms = std::max(it->p95_ms, s.p95_ms);
      it->count = total;
    }
  }

  // Run-level files: mean CSVs combined into one file, the rest listed as the shards wrote them.
  std::map<std::string, std::map<std::string, std::vector<fs::path>>> mean_csvs;  // kind -> merged path -> shard files
  std::vector<std::string> kind_order;
  for (const auto& [i, m] : shards) {
    const std::string suffix = shard_suffix(i, count);
    for (const OutputFile& file : m.run_outputs) {
      if (options.mean_csv_keys.count(file.kind) && file.path.find(suffix) != std::string::npos) {
        // Where the merged file goes must lie inside DIR as well (cutting the suffix could make a "..").
        const std::string merged_path = without_suffix(file.path, suffix);
        if (auto where = resolve_inside(dir, merged_path); !where) {
          return Status::error((dir / ("manifest" + suffix + ".json")).string() + ": run output " + file.kind + " '" +
                               file.path + "' would be merged into " + where.status().message());
        }
        if (!mean_csvs.count(file.kind)) kind_order.push_back(file.kind);
        mean_csvs[file.kind][merged_path].push_back(dir / file.path);
      } else {
        merged.run_outputs.push_back(file);
      }
    }
  }
  for (const std::string& kind : kind_order) {
    for (const auto& [path, parts] : mean_csvs.at(kind)) {
      auto text = merge_mean_csv(parts, options.mean_csv_keys.at(kind));
      if (!text) return Status::error("merging the " + kind + " files into " + (dir / path).string() + ": " + text.status().message());
      LRPFLOW_RETURN_IF_ERROR(write_file_atomic(dir / path, text.value()));
      merged.run_outputs.push_back({kind, path});
    }
  }

  LRPFLOW_RETURN_IF_ERROR(write_manifest(dir / "manifest.json", merged));
  return result;
}

std::map<std::string, std::vector<std::string>> mean_csv_keys(const PluginRegistry& registry) {
  std::map<std::string, std::vector<std::string>> keys;
  for (const StageTypeInfo* stage : registry.stages()) {
    for (const MeanCsvOutput& output : stage->mean_csv_outputs) keys.emplace(output.kind, output.key_columns);
  }
  return keys;
}

}  // namespace lrpflow
