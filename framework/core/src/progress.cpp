#include "lrpflow/progress.h"

#include <unistd.h>

#include <cstdio>
#include <string>

#include "lrpflow/log.h"

namespace lrpflow {

std::string format_duration(double seconds) {
  char text[64];
  if (!(seconds >= 0)) seconds = 0;
  if (seconds < 60) {
    std::snprintf(text, sizeof text, "%.1f s", seconds);
  } else if (seconds < 3600) {
    const long s = static_cast<long>(seconds);
    std::snprintf(text, sizeof text, "%ld min %02ld s", s / 60, s % 60);
  } else {
    const long m = static_cast<long>(seconds / 60);
    std::snprintf(text, sizeof text, "%ld h %02ld min", m / 60, m % 60);
  }
  return text;
}

ProgressDisplay::ProgressDisplay() : live_(::isatty(2) == 1 && log_enabled(LogLevel::Info)) {}

ProgressDisplay::~ProgressDisplay() { finish(); }

void ProgressDisplay::update(const RunProgress& p) {
  if (!live_) return;
  const auto now = std::chrono::steady_clock::now();
  const bool last = p.done >= p.to_run;
  if (!last && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  const double rate = p.elapsed_s > 0 ? static_cast<double>(p.done) / p.elapsed_s : 0;
  const double eta = rate > 0 ? static_cast<double>(p.to_run - p.done) / rate : 0;
  char line[256];
  std::snprintf(line, sizeof line, "[%lld/%lld] %.1f items/s, ETA %s, %lld error%s%s",
                static_cast<long long>(p.done), static_cast<long long>(p.to_run), rate, format_duration(eta).c_str(),
                static_cast<long long>(p.failed), p.failed == 1 ? "" : "s",
                p.skipped ? (", " + std::to_string(p.skipped) + " done before").c_str() : "");
  set_status_line(line);
}

void ProgressDisplay::finish() {
  if (live_) clear_status_line();
  live_ = false;
}

void print_run_summary(const RunReport& report) {
  if (log_enabled(LogLevel::Info)) {
    std::size_t width = 5;
    for (const StageStats& s : report.stages) width = std::max(width, s.id.size());
    char line[512];
    std::snprintf(line, sizeof line, "%-*s %10s %10s %10s", static_cast<int>(width), "stage", "items", "mean ms", "p95 ms");
    log_info(line);
    for (const StageStats& s : report.stages) {
      std::snprintf(line, sizeof line, "%-*s %10lld %10.2f %10.2f", static_cast<int>(width), s.id.c_str(),
                    static_cast<long long>(s.count), s.mean_ms, s.p95_ms);
      log_info(line);
    }
  }
  constexpr std::size_t kShown = 20;
  for (std::size_t i = 0; i < report.errors.size() && i < kShown; ++i) {
    const ItemFailure& e = report.errors[i];
    log_error("item '" + e.item_id + "' (" + e.source + "), stage '" + e.stage + "': " + e.message);
  }
  if (report.errors.size() > kShown) {
    log_error("... and " + std::to_string(report.errors.size() - kShown) + " more (see " +
              report.manifest_path.string() + ")");
  }
  for (const std::string& problem : report.problems) log_error(problem);
  std::string totals = std::to_string(report.items_ok) + " ok, " + std::to_string(report.items_failed) + " failed";
  if (report.items_skipped) totals += ", " + std::to_string(report.items_skipped) + " already done (--resume)";
  if (report.items_not_run) totals += ", " + std::to_string(report.items_not_run) + " not run";
  totals += " of " + std::to_string(report.items_total) + " items in " + format_duration(report.elapsed_s);
  if (report.interrupted) totals += " (interrupted)";
  if (report.stopped_on_error) totals += " (stopped: on_error is 'fail')";
  log_info(totals);
  log_info("manifest: " + report.manifest_path.string());
}

}  // namespace lrpflow
