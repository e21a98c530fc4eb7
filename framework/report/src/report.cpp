#include "lrpflow/report.h"
#include "lrpflow/markup.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cmath>
#include <cstdio>
#include <map>
#include <optional>
#include <set>
#include <system_error>
#include <vector>

#include <nlohmann/json.hpp>

#include "lrpflow/files.h"
#include "lrpflow/output_layout.h"
#include "lrpflow/registry.h"

namespace lrpflow {
namespace fs = std::filesystem;

namespace {

// One stylesheet, inlined into every page so that each page works on its own, offline.
constexpr const char* kStyle = R"css(
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2430;background:#fff;
  margin:0 auto;max-width:1240px;padding:12px 24px 48px}
h1{font-size:22px;margin:8px 0 4px;word-break:break-all}h2{font-size:17px;margin:28px 0 8px;
  border-bottom:1px solid #dde3ea;padding-bottom:4px}h3{font-size:14px;margin:16px 0 6px}
a{color:#1f5fbf}code{font:12px ui-monospace,Menlo,Consolas,monospace;word-break:break-all}
.sub{color:#5b6675;margin:0 0 8px}nav.top{font-size:13px;margin-bottom:8px}nav.top a{margin-right:12px}
table{border-collapse:collapse;margin:4px 0}th,td{border-bottom:1px solid #e6eaef;padding:4px 10px;
  text-align:left;vertical-align:middle}th{background:#f4f6f9;font-weight:600}td.num,th.num{text-align:right;
  font-variant-numeric:tabular-nums}table.kv th{background:none;color:#5b6675;font-weight:500}
.cards{display:flex;gap:12px;flex-wrap:wrap;margin:8px 0}.card{border:1px solid #dde3ea;border-radius:6px;
  padding:8px 16px;min-width:90px}.card b{display:block;font-size:22px}.card span{color:#5b6675;font-size:12px}
.badge{display:inline-block;border-radius:10px;padding:0 8px;font-size:12px;font-weight:600;background:#e6eaef}
.ok,.complete{background:#daf1de;color:#1b6b2c}.failed,.stopped{background:#fadcdc;color:#9b1c1c}
.running,.interrupted{background:#fdf0cf;color:#7a5200}
.error-box{border:2px solid #d64545;background:#fdf1f1;border-radius:6px;padding:10px 14px;margin:12px 0}
.error-box b{color:#9b1c1c}tr.failed-row td{background:#fdf6f6}
.thumb{width:72px;height:72px;object-fit:contain;background:#f4f6f9;display:block;image-rendering:pixelated}
.gallery{display:flex;flex-wrap:wrap;gap:14px}figure{margin:0;width:224px}
figure img{width:224px;height:224px;object-fit:contain;border:1px solid #dde3ea;background:#f4f6f9;display:block;
  image-rendering:pixelated}
figure.wide{width:auto;max-width:100%}figure.wide img{width:auto;height:auto;max-width:100%;image-rendering:auto}
figcaption{font-size:12px;color:#5b6675;overflow-wrap:anywhere}
.missing{display:flex;flex-direction:column;align-items:center;justify-content:center;text-align:center;
  width:224px;height:224px;border:2px dashed #c58b8b;color:#9b1c1c;background:#fbf4f4;font-size:12px;
  padding:6px;box-sizing:border-box;overflow:hidden;overflow-wrap:anywhere}
.missing.small{width:72px;height:72px;font-size:10px;padding:2px}.missing.small code{font-size:9px}
.bar{display:inline-block;height:8px;background:#5b8def;vertical-align:middle;margin-right:6px}
nav.pager{margin:10px 0}nav.pager a,nav.pager span{margin-right:6px}nav.pager .current{font-weight:700}
.muted{color:#8a94a3}
)css";

// The sections of an item page: one per heading, kinds in declaration order, by position.
std::vector<ReportSection> merged_sections(const std::vector<ReportSection>& declared) {
  std::vector<ReportSection> sections;
  for (const ReportSection& section : declared) {
    auto same = std::find_if(sections.begin(), sections.end(), [&](const ReportSection& s) { return s.heading == section.heading; });
    if (same == sections.end()) {
      sections.push_back(section);
      continue;
    }
    for (const std::string& kind : section.kinds)
      if (std::find(same->kinds.begin(), same->kinds.end(), kind) == same->kinds.end()) same->kinds.push_back(kind);
    same->wide = same->wide || section.wide;
    same->position = std::min(same->position, section.position);
  }
  std::stable_sort(sections.begin(), sections.end(),
                   [](const ReportSection& a, const ReportSection& b) { return a.position < b.position; });
  return sections;
}

bool has_image_extension(const std::string& path) {
  std::string ext = fs::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".svg" || ext == ".gif" || ext == ".webp";
}

// A relative path as a URL path: every byte outside the unreserved set (and '/') percent-encoded,
// so that '#', '?', '%' or spaces in file names cannot change what the link points to.
std::string url_path(const std::string& path) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (char c : path) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == '-' || c == '.' || c == '_' || c == '~' || c == '/') {
      out.push_back(c);
    } else {
      out += '%';
      out += kHex[u >> 4];
      out += kHex[u & 15];
    }
  }
  return out;
}

std::string format_number(double value, const char* format) {
  if (std::isnan(value)) return "n/a";
  if (std::isinf(value)) return value > 0 ? "∞" : "−∞";
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, format, value);
  return buffer;
}

std::string percent(double fraction) { return format_number(fraction * 100.0, "%.1f") + "%"; }

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The text `*` matched in `key` when `pattern` matches it (the whole key when it has no `*`).
std::optional<std::string> match_metric(const std::string& pattern, const std::string& key) {
  const auto star = pattern.find('*');
  if (star == std::string::npos) return pattern == key ? std::optional<std::string>(key) : std::nullopt;
  const std::string prefix = pattern.substr(0, star), suffix = pattern.substr(star + 1);
  if (key.size() <= prefix.size() + suffix.size() || key.compare(0, prefix.size(), prefix) != 0 || !ends_with(key, suffix))
    return std::nullopt;
  return key.substr(prefix.size(), key.size() - prefix.size() - suffix.size());
}

// The label and formatted value of a metric, as the stage that records it declares.
std::pair<std::string, std::string> describe_metric(const std::vector<ReportMetric>& declared, const std::string& key,
                                                    double value) {
  for (const ReportMetric& metric : declared) {
    const auto matched = match_metric(metric.key, key);
    if (!matched) continue;
    std::string label = metric.label;
    if (const auto at = label.find("{}"); at != std::string::npos) label.replace(at, 2, *matched);
    std::string text = format_number(value, "%.6g");
    if (std::isfinite(value)) {
      switch (metric.format) {
        case ReportMetric::Format::Number: break;
        case ReportMetric::Format::Integer: text = format_number(value, "%.0f"); break;
        case ReportMetric::Format::Percent:
          if (value >= 0 && value <= 1) text = percent(value);
          break;
        case ReportMetric::Format::YesNo: text = value != 0 ? "yes" : "no"; break;
      }
    }
    return {label.empty() ? key : label, text};
  }
  return {key, format_number(value, "%.6g")};
}

struct TopEntry {
  std::int64_t cls = 0;
  std::string label;
  std::optional<double> probability;
};

// What is known about an item's prediction: the `prediction` JSON file if there is one, else the
// `predicted_class` / `confidence` metrics.
struct Prediction {
  std::optional<std::int64_t> predicted;
  std::optional<std::int64_t> target;  // the true class, when the input came with one
  std::optional<double> confidence;
  std::string label;
  std::string target_label;
  std::vector<TopEntry> top5;
  std::string problem;  // why the prediction file could not be used

  bool known() const { return predicted.has_value(); }
  // Set when both the prediction and the true class are known.
  std::optional<bool> correct() const {
    if (!predicted || !target) return std::nullopt;
    return *predicted == *target;
  }
};

// One item, with everything the pages need worked out once.
struct ItemView {
  const ManifestItem* item = nullptr;
  std::string page;  // file name under report/items/
  int list_page = 1;
  Prediction prediction;
};

struct Context {
  const Manifest* manifest = nullptr;
  fs::path output_dir;
  fs::path report_dir;
  ReportOptions options;
  std::vector<ReportSection> sections;  // merged_sections(options.sections)
  int page_count = 1;
};

// A file the manifest names; an error for one outside the run's folder, which the report neither
// reads nor links (resolve_inside(): manifests are untrusted).
Result<fs::path> resolve(const Context& ctx, const std::string& path) { return resolve_inside(ctx.output_dir, path); }

bool file_exists(const Context& ctx, const std::string& path) {
  std::error_code ec;
  const Result<fs::path> where = resolve(ctx, path);
  return where && fs::is_regular_file(where.value(), ec);
}

// The href of an output file from a page `depth` folders below the output directory (report/ is 1,
// report/items/ is 2). Only for files inside the folder (file_exists()), so always a relative URL.
std::string output_href(const std::string& path, int depth) {
  const fs::path p = fs::path(path).lexically_normal();
  std::string up;
  for (int i = 0; i < depth; ++i) up += "../";
  return html_escape(up + url_path(p.generic_string()));
}

std::string list_page_name(int page) { return page == 1 ? "index.html" : "items-" + std::to_string(page) + ".html"; }

std::string page_begin(const std::string& title) {
  return "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
         "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
         // An empty icon: browsers would otherwise ask for favicon.ico, which does not exist.
         "<link rel=\"icon\" href=\"data:,\">\n<title>" +
         html_escape(title) + "</title>\n<style>" + kStyle + "</style>\n</head>\n<body>\n";
}

std::string page_end() { return "</body>\n</html>\n"; }

std::string run_title(const Manifest& manifest, const ReportOptions& options) {
  if (!options.title.empty()) return options.title;
  const std::string name = fs::path(manifest.run.pipeline_file).filename().string();
  return "lrpflow run: " + (name.empty() ? std::string("(unnamed pipeline)") : name);
}

std::string badge(const std::string& text, const std::string& css_class) {
  return "<span class=\"badge " + html_escape(css_class) + "\">" + html_escape(text) + "</span>";
}

std::string status_badge(const ManifestItem& item) { return item.ok ? badge("ok", "ok") : badge("failed", "failed"); }

// An <img> of an existing output, or a visible box naming the file that is not there.
std::string image_or_placeholder(const Context& ctx, const std::string& path, int depth, const std::string& alt,
                                 const std::string& img_class) {
  const std::string name = html_escape(fs::path(path).filename().string());
  if (!file_exists(ctx, path)) {
    const std::string size = img_class == "thumb" ? " small" : "";
    return "<div class=\"missing" + size + "\" title=\"" + html_escape(path) + "\">missing file<br><code>" + name +
           "</code></div>";
  }
  return "<img src=\"" + output_href(path, depth) + "\" alt=\"" + html_escape(alt) + "\" loading=\"lazy\"" +
         (img_class.empty() ? std::string() : " class=\"" + img_class + "\"") + ">";
}

std::string figure(const Context& ctx, const OutputFile& file, int depth, bool wide) {
  std::string html = wide ? "<figure class=\"wide\">" : "<figure>";
  const std::string image = image_or_placeholder(ctx, file.path, depth, file.kind, "");
  if (file_exists(ctx, file.path)) {
    html += "<a href=\"" + output_href(file.path, depth) + "\">" + image + "</a>";
  } else {
    html += image;
  }
  html += "<figcaption>" + html_escape(file.kind) + ": " + html_escape(fs::path(file.path).filename().string()) +
          "</figcaption></figure>\n";
  return html;
}

const OutputFile* first_output(const ManifestItem& item, const std::string& kind) {
  for (const OutputFile& file : item.outputs) {
    if (file.kind == kind) return &file;
  }
  return nullptr;
}

Prediction read_prediction(const Context& ctx, const ManifestItem& item) {
  Prediction p;
  if (auto it = item.metrics.find("predicted_class"); it != item.metrics.end() && std::isfinite(it->second)) {
    p.predicted = std::llround(it->second);
  }
  if (auto it = item.metrics.find("confidence"); it != item.metrics.end() && std::isfinite(it->second)) {
    p.confidence = it->second;
  }
  if (auto it = item.metrics.find("target_class"); it != item.metrics.end() && std::isfinite(it->second)) {
    p.target = std::llround(it->second);
  }
  const OutputFile* file = first_output(item, "prediction");
  if (!file) return p;
  const Result<fs::path> where = resolve(ctx, file->path);
  if (!where) {
    p.problem = "prediction: " + where.status().message();
    return p;
  }
  const Result<std::string> text = read_file(where.value());
  if (!text) {
    p.problem = text.status().message();
    return p;
  }
  const nlohmann::json j = nlohmann::json::parse(text.value(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    p.problem = file->path + ": not a JSON object";
    return p;
  }
  try {
    if (j.contains("predicted")) p.predicted = j.at("predicted").get<std::int64_t>();
    if (j.contains("target") && !j.at("target").is_null()) {
      p.target = j.at("target").get<std::int64_t>();
    } else if (j.contains("true_class") && !j.at("true_class").is_null()) {
      p.target = j.at("true_class").get<std::int64_t>();  // the key of runs before lrpflow wrote "target"
    }
    if (j.contains("target_label") && j.at("target_label").is_string()) p.target_label = j.at("target_label").get<std::string>();
    if (j.contains("top5")) {
      for (const nlohmann::json& entry : j.at("top5")) {
        TopEntry top;
        top.cls = entry.at("class").get<std::int64_t>();
        if (entry.contains("label") && entry.at("label").is_string()) top.label = entry.at("label").get<std::string>();
        if (entry.contains("probability") && entry.at("probability").is_number()) {
          top.probability = entry.at("probability").get<double>();
        }
        p.top5.push_back(std::move(top));
      }
    }
  } catch (const nlohmann::json::exception& e) {
    p.problem = file->path + ": " + e.what();
  }
  if (!p.predicted && !p.top5.empty()) p.predicted = p.top5.front().cls;
  for (const TopEntry& top : p.top5) {
    if (p.predicted && top.cls == *p.predicted) {
      p.label = top.label;
      if (!p.confidence && top.probability) p.confidence = top.probability;
    }
    if (p.target && top.cls == *p.target && p.target_label.empty()) p.target_label = top.label;
  }
  return p;
}

std::string prediction_summary(const Prediction& p) {
  if (!p.known()) return "<span class=\"muted\">–</span>";
  std::string html = "class " + std::to_string(*p.predicted);
  if (!p.label.empty()) html += " <b>" + html_escape(p.label) + "</b>";
  if (p.confidence) html += " · " + percent(*p.confidence);
  return html;
}

// "correct" / "misclassified", or "" when the true class is unknown.
std::string correctness_badge(const Prediction& p) {
  const std::optional<bool> correct = p.correct();
  if (!correct) return "";
  return *correct ? badge("correct", "ok") : badge("misclassified", "failed");
}

// The true class and whether the prediction matches it.
std::string truth_summary(const Prediction& p) {
  if (!p.target) return "<span class=\"muted\">unknown</span>";
  std::string html = "class " + std::to_string(*p.target);
  if (!p.target_label.empty()) html += " <b>" + html_escape(p.target_label) + "</b>";
  const std::string verdict = correctness_badge(p);
  return verdict.empty() ? html : html + " " + verdict;
}

// A badge on items that an older configuration produced (kept by --resume --allow-changed-pipeline).
std::string configuration_badge(const Manifest& manifest, const ManifestItem& item) {
  if (item.pipeline_hash.empty() || item.pipeline_hash == manifest.run.pipeline_hash) return "";
  return " " + badge("other configuration", "running");
}

std::string pager(const Context& ctx, int current) {
  if (ctx.page_count <= 1) return "";
  std::string html = "<nav class=\"pager\">Pages: ";
  if (current > 1) html += "<a href=\"" + list_page_name(current - 1) + "\">← previous</a>";
  int last_shown = 0;
  for (int page = 1; page <= ctx.page_count; ++page) {
    // Around the current page plus the first and last: stays short for a run of 10,000 items.
    if (page != 1 && page != ctx.page_count && std::abs(page - current) > 3) continue;
    if (page > last_shown + 1) html += "<span>…</span>";
    if (page == current) {
      html += "<span class=\"current\">" + std::to_string(page) + "</span>";
    } else {
      html += "<a href=\"" + list_page_name(page) + "\">" + std::to_string(page) + "</a>";
    }
    last_shown = page;
  }
  if (current < ctx.page_count) html += "<a href=\"" + list_page_name(current + 1) + "\">next →</a>";
  return html + "</nav>\n";
}

std::string item_table(const Context& ctx, const std::vector<ItemView>& views, int page) {
  const std::size_t per_page = static_cast<std::size_t>(ctx.options.items_per_page);
  const std::size_t begin = static_cast<std::size_t>(page - 1) * per_page;
  const std::size_t end = std::min(views.size(), begin + per_page);
  std::string html = "<h2 id=\"items\">Items";
  if (ctx.page_count > 1) {
    html += " " + std::to_string(begin + 1) + "–" + std::to_string(end) + " of " + std::to_string(views.size()) +
            " (page " + std::to_string(page) + " of " + std::to_string(ctx.page_count) + ")";
  }
  html += "</h2>\n";
  if (views.empty()) return html + "<p class=\"muted\">No items were recorded.</p>\n";
  html += pager(ctx, page);
  const std::string thumb_heading = ctx.options.thumbnail_kinds.empty() ? "" : html_escape(ctx.options.thumbnail_kinds.front());
  html += "<table class=\"items\">\n<tr><th class=\"num\">#</th><th>" + thumb_heading + "</th><th>item</th><th>prediction</th>"
          "<th>true class</th><th>status</th></tr>\n";
  for (std::size_t i = begin; i < end; ++i) {
    const ItemView& view = views[i];
    const ManifestItem& item = *view.item;
    const std::string href = "items/" + url_path(view.page);
    const OutputFile* thumb = nullptr;
    for (const std::string& kind : ctx.options.thumbnail_kinds)
      if (!thumb) thumb = first_output(item, kind);
    std::string thumb_html;
    if (thumb) {
      thumb_html = "<a href=\"" + href + "\">" + image_or_placeholder(ctx, thumb->path, 1, thumb->kind, "thumb") + "</a>";
    } else if (!ctx.options.thumbnail_kinds.empty()) {
      thumb_html = "<div class=\"missing small\">no " + html_escape(ctx.options.thumbnail_kinds.front()) + "</div>";
    }
    std::string status = status_badge(item);
    if (item.error) status += " <span class=\"muted\">in " + html_escape(item.error->stage) + "</span>";
    status += configuration_badge(*ctx.manifest, item);
    html += std::string("<tr") + (item.ok ? "" : " class=\"failed-row\"") + "><td class=\"num\">" +
            std::to_string(item.index) + "</td><td>" + thumb_html + "</td><td><a href=\"" + href + "\">" +
            html_escape(item.id) + "</a><br><code class=\"muted\">" + html_escape(item.source) + "</code></td><td>" +
            prediction_summary(view.prediction) + "</td><td>" + truth_summary(view.prediction) + "</td><td>" + status +
            "</td></tr>\n";
  }
  html += "</table>\n";
  return html + pager(ctx, page);
}

// The configurations the items came from, when there is more than one (a resume that allowed a
// changed pipeline): which hash, how it was run, how many items each produced.
std::string configurations_section(const Manifest& manifest) {
  const std::map<std::string, std::int64_t> counts = items_per_configuration(manifest);
  if (counts.size() <= 1 && manifest.configurations.size() <= 1) return "";
  std::string html = "<div class=\"error-box\"><b>The items of this run come from " +
                     std::to_string(std::max(counts.size(), manifest.configurations.size())) +
                     " configurations</b> (pipeline text or --set values changed between runs and "
                     "<code>--resume --allow-changed-pipeline</code> kept the older items). Items of another configuration "
                     "than the current one are marked in the item list.</div>\n";
  html += "<table>\n<tr><th>pipeline hash</th><th>pipeline</th><th>overrides</th><th>first started</th>"
          "<th class=\"num\">items</th></tr>\n";
  std::set<std::string> listed;
  auto row = [&](const std::string& hash, const std::string& file, const std::string& overrides, const std::string& started) {
    listed.insert(hash);
    const auto it = counts.find(hash);
    html += "<tr><td><code>" + html_escape(hash) + "</code>" +
            (hash == manifest.run.pipeline_hash ? " " + badge("current", "ok") : std::string()) + "</td><td><code>" +
            html_escape(file) + "</code></td><td><code>" + overrides + "</code></td><td>" + html_escape(started) +
            "</td><td class=\"num\">" + std::to_string(it == counts.end() ? 0 : it->second) + "</td></tr>\n";
  };
  for (const ManifestConfiguration& c : manifest.configurations) {
    std::string overrides;
    for (const std::string& o : c.overrides) overrides += (overrides.empty() ? "" : " ") + html_escape(o);
    row(c.pipeline_hash, c.pipeline_file, overrides, c.started_at);
  }
  for (const auto& entry : counts) {
    if (!listed.count(entry.first)) row(entry.first, "", "", "");  // an item whose configuration is not listed
  }
  return html + "</table>\n";
}

std::string run_info_section(const Manifest& manifest, const std::vector<ItemView>& views) {
  const ManifestRunInfo& run = manifest.run;
  std::int64_t ok = 0;
  for (const ManifestItem& item : manifest.items) ok += item.ok ? 1 : 0;
  std::int64_t with_truth = 0, misclassified = 0;
  for (const ItemView& view : views) {
    if (const std::optional<bool> correct = view.prediction.correct()) {
      ++with_truth;
      misclassified += *correct ? 0 : 1;
    }
  }
  const std::int64_t recorded = static_cast<std::int64_t>(manifest.items.size());
  const std::int64_t failed = recorded - ok;
  const std::int64_t total = std::max(run.items_total, recorded);

  std::string html = "<div class=\"cards\">";
  auto card = [&](std::int64_t value, const char* label, const char* css) {
    html += std::string("<div class=\"card ") + css + "\"><b>" + std::to_string(value) + "</b><span>" + label +
            "</span></div>";
  };
  card(total, "items in total", "");
  card(ok, "ok", ok > 0 ? "ok" : "");
  card(failed, "failed", failed > 0 ? "failed" : "");
  if (total > recorded) card(total - recorded, "not processed", "running");
  if (with_truth > 0) {
    const std::string label = "misclassified (of " + std::to_string(with_truth) + " with a true class)";
    card(misclassified, label.c_str(), misclassified > 0 ? "failed" : "ok");
  }
  html += "</div>\n";
  // Warnings the run recorded (a model with random weights, ...): first thing under the counts.
  for (const std::string& warning : run.warnings) {
    html += "<div class=\"error-box\"><b>Warning:</b> " + html_escape(warning) + "</div>\n";
  }
  html += configurations_section(manifest);
  html += "<table class=\"kv\">\n";
  auto row = [&](const char* key, const std::string& value_html) {
    html += std::string("<tr><th>") + key + "</th><td>" + value_html + "</td></tr>\n";
  };
  row("Pipeline", "<code>" + html_escape(run.pipeline_file) + "</code>");
  row("State", badge(run.state.empty() ? "unknown" : run.state, run.state));
  row("Started", html_escape(run.started_at));
  row("Finished", run.finished_at.empty() ? "<span class=\"muted\">not finished</span>" : html_escape(run.finished_at));
  row("Threads", std::to_string(run.threads) + " (at most " + std::to_string(run.max_in_flight) + " items in flight)");
  row("lrpflow version", html_escape(run.lrpflow_version));
  row("Pipeline hash", "<code>" + html_escape(run.pipeline_hash) + "</code>");
  row("Inputs hash", "<code>" + html_escape(run.inputs_hash) + "</code>");
  return html + "</table>\n";
}

std::string stages_section(const Manifest& manifest) {
  std::string html = "<h2>Stage timings</h2>\n";
  if (manifest.stages.empty()) return html + "<p class=\"muted\">No stage timings were recorded.</p>\n";
  html += "<table>\n<tr><th>stage</th><th>type</th><th class=\"num\">items</th><th class=\"num\">mean ms</th>"
          "<th class=\"num\">p95 ms</th></tr>\n";
  for (const StageStats& s : manifest.stages) {
    html += "<tr><td>" + html_escape(s.id) + "</td><td><code>" + html_escape(s.type) + "</code></td><td class=\"num\">" +
            std::to_string(s.count) + "</td><td class=\"num\">" + format_number(s.mean_ms, "%.2f") +
            "</td><td class=\"num\">" + format_number(s.p95_ms, "%.2f") + "</td></tr>\n";
  }
  return html + "</table>\n";
}

std::string errors_section(const Context& ctx, const std::vector<ItemView>& views) {
  std::vector<const ItemView*> failed;
  for (const ItemView& view : views) {
    if (!view.item->ok || view.item->error) failed.push_back(&view);
  }
  std::string html = "<h2 id=\"errors\">Errors (" + std::to_string(failed.size()) + ")</h2>\n";
  if (failed.empty()) return html + "<p class=\"muted\">No item failed.</p>\n";
  html += "<table>\n<tr><th>item</th><th>source</th><th>stage</th><th>message</th></tr>\n";
  const std::size_t shown = std::min(failed.size(), static_cast<std::size_t>(std::max(0, ctx.options.max_listed_errors)));
  for (std::size_t i = 0; i < shown; ++i) {
    const ManifestItem& item = *failed[i]->item;
    const std::string stage = item.error ? item.error->stage : "";
    const std::string message = item.error ? item.error->message : "failed (no message recorded)";
    html += "<tr class=\"failed-row\"><td><a href=\"items/" + url_path(failed[i]->page) + "\">" + html_escape(item.id) +
            "</a></td><td><code>" + html_escape(item.source) + "</code></td><td>" + html_escape(stage) + "</td><td>" +
            html_escape(message) + "</td></tr>\n";
  }
  html += "</table>\n";
  if (shown < failed.size()) {
    html += "<p class=\"muted\">… and " + std::to_string(failed.size() - shown) +
            " more; every failed item is marked in the item list.</p>\n";
  }
  return html;
}

std::string file_link(const Context& ctx, const OutputFile& file, int depth) {
  const std::string name = html_escape(file.path);
  if (!file_exists(ctx, file.path)) return "<code>" + name + "</code> <span class=\"badge failed\">missing</span>";
  const std::string href = output_href(file.path, depth);
  if (href.empty()) return "<code>" + name + "</code>";
  return "<a href=\"" + href + "\"><code>" + name + "</code></a>";
}

// Grouped by kind: the manifest keeps the order within a kind, not the order of the kinds.
std::vector<OutputFile> sorted_by_kind(std::vector<OutputFile> files) {
  std::stable_sort(files.begin(), files.end(), [](const OutputFile& a, const OutputFile& b) { return a.kind < b.kind; });
  return files;
}

std::string files_table(const Context& ctx, const std::vector<OutputFile>& files, int depth) {
  std::string html = "<table>\n<tr><th>kind</th><th>file</th></tr>\n";
  for (const OutputFile& file : sorted_by_kind(files)) {
    html += "<tr><td>" + html_escape(file.kind) + "</td><td>" + file_link(ctx, file, depth) + "</td></tr>\n";
  }
  return html + "</table>\n";
}

std::string run_outputs_section(const Context& ctx, const Manifest& manifest) {
  std::string html = "<h2>Run outputs</h2>\n";
  if (manifest.run_outputs.empty()) return html + "<p class=\"muted\">The run wrote no run-level outputs.</p>\n";
  std::string gallery;
  for (const OutputFile& file : sorted_by_kind(manifest.run_outputs)) {
    if (has_image_extension(file.path)) gallery += figure(ctx, file, 1, /*wide=*/true);
  }
  if (!gallery.empty()) html += "<div class=\"gallery\">\n" + gallery + "</div>\n";
  return html + files_table(ctx, manifest.run_outputs, 1);
}

std::string list_page(const Context& ctx, const Manifest& manifest, const std::vector<ItemView>& views, int page) {
  const std::string title = run_title(manifest, ctx.options);
  std::string html = page_begin(page == 1 ? title : title + " – items page " + std::to_string(page));
  if (page == 1) {
    html += "<h1>" + html_escape(title) + "</h1>\n";
    html += run_info_section(manifest, views);
    html += stages_section(manifest);
    html += errors_section(ctx, views);
    html += run_outputs_section(ctx, manifest);
  } else {
    html += "<nav class=\"top\"><a href=\"index.html\">← run overview</a></nav>\n<h1>" + html_escape(title) + "</h1>\n";
  }
  html += item_table(ctx, views, page);
  return html + page_end();
}

std::string prediction_section(const Prediction& p) {
  std::string html = "<h2>Prediction</h2>\n";
  if (!p.problem.empty()) {
    html += "<p class=\"error-box\"><b>The prediction file could not be read:</b> " + html_escape(p.problem) + "</p>\n";
  }
  if (!p.known()) return html + "<p class=\"muted\">No prediction was recorded.</p>\n";
  html += "<p>Predicted: " + prediction_summary(p) + "<br>True class: " + truth_summary(p) + "</p>\n";
  if (p.top5.empty()) return html;
  html += "<table>\n<tr><th class=\"num\">rank</th><th class=\"num\">class</th><th>label</th><th>probability</th></tr>\n";
  for (std::size_t i = 0; i < p.top5.size(); ++i) {
    const TopEntry& top = p.top5[i];
    std::string probability = "<span class=\"muted\">–</span>";
    if (top.probability) {
      const double width = std::clamp(*top.probability, 0.0, 1.0) * 120.0;
      probability = "<span class=\"bar\" style=\"width:" + format_number(width, "%.0f") + "px\"></span>" +
                    percent(*top.probability);
    }
    html += "<tr><td class=\"num\">" + std::to_string(i + 1) + "</td><td class=\"num\">" + std::to_string(top.cls) +
            "</td><td>" + html_escape(top.label) + "</td><td>" + probability + "</td></tr>\n";
  }
  return html + "</table>\n";
}

std::string metrics_section(const Context& ctx, const ManifestItem& item) {
  std::string html = "<h2>Metrics</h2>\n";
  if (item.metrics.empty()) return html + "<p class=\"muted\">No metrics were recorded.</p>\n";
  html += "<table>\n<tr><th>metric</th><th class=\"num\">value</th><th>name</th></tr>\n";
  for (const auto& [key, value] : item.metrics) {
    const auto [label, text] = describe_metric(ctx.options.metrics, key, value);
    html += "<tr><td>" + html_escape(label) + "</td><td class=\"num\">" + html_escape(text) +
            "</td><td><code class=\"muted\">" + html_escape(key) +
            "</code></td></tr>\n";
  }
  return html + "</table>\n";
}

// The item's stage times in the order of the run's stage table (stages it does not list last).
std::vector<std::pair<std::string, double>> timings_in_pipeline_order(const Manifest& manifest, const ManifestItem& item) {
  std::vector<std::pair<std::string, double>> ordered;
  std::set<std::string> seen;
  for (const StageStats& stage : manifest.stages) {
    if (auto it = item.timings_ms.find(stage.id); it != item.timings_ms.end() && seen.insert(stage.id).second) {
      ordered.emplace_back(*it);
    }
  }
  for (const auto& entry : item.timings_ms) {
    if (!seen.count(entry.first)) ordered.emplace_back(entry);
  }
  return ordered;
}

std::string item_page(const Context& ctx, const Manifest& manifest, const std::vector<ItemView>& views,
                      std::size_t position) {
  const ItemView& view = views[position];
  const ManifestItem& item = *view.item;
  std::string html = page_begin(item.id + " – " + run_title(manifest, ctx.options));
  html += "<nav class=\"top\"><a href=\"../index.html\">← run overview</a><a href=\"../" +
          list_page_name(view.list_page) + "#items\">item list</a>";
  if (position > 0) html += "<a href=\"" + url_path(views[position - 1].page) + "\">← previous item</a>";
  if (position + 1 < views.size()) html += "<a href=\"" + url_path(views[position + 1].page) + "\">next item →</a>";
  const std::string verdict = correctness_badge(view.prediction);
  html += "</nav>\n<h1>" + html_escape(item.id) + " " + status_badge(item) + (verdict.empty() ? "" : " " + verdict) +
          "</h1>\n";
  html += "<p class=\"sub\">source <code>" + html_escape(item.source) + "</code> · index " + std::to_string(item.index);
  if (!item.pipeline_hash.empty()) {
    html += " · configuration <code>" + html_escape(item.pipeline_hash) + "</code>" + configuration_badge(manifest, item);
  }
  html += "</p>\n";
  if (!item.ok || item.error) {
    html += "<div class=\"error-box\"><b>This item failed";
    if (item.error) {
      html += " in stage " + html_escape(item.error->stage) + ":</b> " + html_escape(item.error->message);
    } else {
      html += ".</b> No message was recorded.";
    }
    html += "</div>\n";
  }
  html += prediction_section(view.prediction);

  for (const ReportSection& section : ctx.sections) {
    std::string gallery;
    for (const std::string& kind : section.kinds) {
      for (const OutputFile& file : item.outputs) {
        if (file.kind == kind) gallery += figure(ctx, file, 2, section.wide);
      }
    }
    if (!gallery.empty()) html += "<h2>" + html_escape(section.heading) + "</h2>\n<div class=\"gallery\">\n" + gallery + "</div>\n";
  }
  html += metrics_section(ctx, item);
  if (!item.timings_ms.empty()) {
    html += "<h2>Stage timings</h2>\n<table>\n<tr><th>stage</th><th class=\"num\">ms</th></tr>\n";
    for (const auto& [stage, ms] : timings_in_pipeline_order(manifest, item)) {
      html += "<tr><td>" + html_escape(stage) + "</td><td class=\"num\">" + format_number(ms, "%.2f") + "</td></tr>\n";
    }
    html += "</table>\n";
  }
  html += "<h2>Files</h2>\n";
  html += item.outputs.empty() ? "<p class=\"muted\">No files were written for this item.</p>\n"
                               : files_table(ctx, item.outputs, 2);
  return html + page_end();
}

// A file name for the item's page: the id reduced to characters that are safe in file names and
// URLs on every system, made unique among the run's items.
std::string page_stem(const std::string& id) {
  std::string stem = safe_name_component(id);
  for (char& c : stem) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (!(std::isalnum(u) || c == '-' || c == '_' || c == '.')) c = '_';
  }
  if (stem.size() > 80) stem.resize(80);
  if (stem.front() == '.') stem.front() = '_';
  return stem;
}

// Removes .html files a previous report wrote that this one did not (e.g. list pages beyond the
// new last page); other files in the folder are left alone.
void remove_stale_pages(const fs::path& dir, const std::set<std::string>& written, bool only_list_pages) {
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (it->path().extension() != ".html" || written.count(name)) continue;
    if (only_list_pages && name.rfind("items-", 0) != 0) continue;
    std::error_code ignored;
    if (it->is_regular_file(ignored)) fs::remove(it->path(), ignored);
  }
}

}  // namespace

Status write_report(const fs::path& output_dir, const Manifest& manifest, const ReportOptions& options) {
  if (options.items_per_page < 1) {
    return Status::error("report: items_per_page must be at least 1, got " + std::to_string(options.items_per_page));
  }
  Context ctx;
  ctx.manifest = &manifest;
  ctx.output_dir = output_dir;
  ctx.report_dir = output_dir / "report";
  ctx.options = options;
  ctx.sections = merged_sections(options.sections);

  std::error_code ec;
  for (const fs::path& dir : {ctx.report_dir, ctx.report_dir / "items"}) {
    if (fs::exists(dir, ec) && !fs::is_directory(dir, ec)) {
      return Status::error("cannot write the report: '" + dir.string() + "' exists and is not a directory");
    }
    fs::create_directories(dir, ec);
    if (ec) return Status::error("cannot create the report directory '" + dir.string() + "': " + ec.message());
  }

  std::vector<ItemView> views;
  views.reserve(manifest.items.size());
  for (const ManifestItem& item : manifest.items) views.push_back(ItemView{&item, "", 1, {}});
  std::stable_sort(views.begin(), views.end(),
                   [](const ItemView& a, const ItemView& b) { return a.item->index < b.item->index; });
  std::set<std::string> item_pages;
  for (std::size_t i = 0; i < views.size(); ++i) {
    const std::string stem = page_stem(views[i].item->id);
    std::string name = stem + ".html";
    for (int n = 2; item_pages.count(name); ++n) name = stem + "-" + std::to_string(n) + ".html";
    item_pages.insert(name);
    views[i].page = name;
    views[i].list_page = static_cast<int>(i / static_cast<std::size_t>(options.items_per_page)) + 1;
    views[i].prediction = read_prediction(ctx, *views[i].item);
  }
  ctx.page_count = std::max<int>(1, static_cast<int>((views.size() + options.items_per_page - 1) / options.items_per_page));

  // Item pages first, so that no list page links to a page that is not written yet.
  for (std::size_t i = 0; i < views.size(); ++i) {
    LRPFLOW_RETURN_IF_ERROR(write_file_atomic(ctx.report_dir / "items" / views[i].page, item_page(ctx, manifest, views, i)));
  }
  std::set<std::string> list_pages;
  for (int page = ctx.page_count; page >= 1; --page) {
    list_pages.insert(list_page_name(page));
    LRPFLOW_RETURN_IF_ERROR(write_file_atomic(ctx.report_dir / list_page_name(page), list_page(ctx, manifest, views, page)));
  }
  remove_stale_pages(ctx.report_dir / "items", item_pages, /*only_list_pages=*/false);
  remove_stale_pages(ctx.report_dir, list_pages, /*only_list_pages=*/true);
  return Status::ok();
}

void add_stage_vocabulary(ReportOptions& options, const PluginRegistry& registry) {
  for (const StageTypeInfo* stage : registry.stages()) {
    options.sections.insert(options.sections.end(), stage->report_sections.begin(), stage->report_sections.end());
    for (const std::string& kind : stage->report_thumbnail_kinds)
      if (std::find(options.thumbnail_kinds.begin(), options.thumbnail_kinds.end(), kind) == options.thumbnail_kinds.end())
        options.thumbnail_kinds.push_back(kind);
    options.metrics.insert(options.metrics.end(), stage->report_metrics.begin(), stage->report_metrics.end());
  }
}

}  // namespace lrpflow
