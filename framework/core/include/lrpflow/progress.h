// Progress display for `lrpflow run`: a live status line while the run goes, a summary at the end.
//
// The live line ("done/total, items/s, ETA, errors") is drawn only when stderr is a terminal and
// the log level shows info messages (not --quiet); otherwise update() does nothing. The summary is
// a per-stage table (items, mean ms, p95 ms) and the first 20 item errors.
//
// Thread safety: update() is called from the runtime's sink (one thread at a time).
#pragma once

#include <chrono>

#include "lrpflow/runtime.h"

namespace lrpflow {

class ProgressDisplay {
 public:
  ProgressDisplay();
  ~ProgressDisplay();
  bool live() const { return live_; }
  void update(const RunProgress& progress);  // redraws at most ten times a second
  void finish();                             // removes the live line

 private:
  bool live_ = false;
  std::chrono::steady_clock::time_point last_draw_{};
};

// The end-of-run summary (per-stage table, errors, totals) at info level; errors list first 20.
void print_run_summary(const RunReport& report);

// "3.2 s", "4 min 05 s", "1 h 02 min".
std::string format_duration(double seconds);

}  // namespace lrpflow
