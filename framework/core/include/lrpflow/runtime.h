// Runtime: runs a validated Pipeline over its inputs with a oneTBB flow graph.
//
// Order of events:
//   1. The output directory is created; on --resume the old manifest is read (a corrupt one is an
//      error naming the file).
//   2. Resources are created in declaration order, then every stage instance is created and opened
//      in execution order. Any failure here stops the run before an item is read (a run error that
//      names the resource or stage).
//   3. The source's enumerate() lists the inputs. On --resume, items the old manifest records as ok
//      whose outputs all exist are carried into the new manifest and not run again. A resume whose
//      old manifest has ok items of another pipeline hash is refused in step 1 unless
//      RunOptions::allow_changed_pipeline is set.
//   4. The graph, built completely before the first item is emitted:
//        input_node -> limiter_node(max_in_flight) -> admit -> [sequencer] -> stage 1 (the source's
//        process(), which loads the item) -> [sequencer] -> stage 2 -> ... -> sink -> limiter decrement
//      Each stage is one function_node, serial unless its type is reentrant; an `ordered` stage gets
//      a sequencer_node in front so it sees items in input order. An item that failed passes the
//      remaining stages untouched and still reaches the sink, which records it (manifest, report),
//      releases its slots and lets the next item in. Everything runs in a task_arena of
//      `runtime.threads` threads; LibTorch intra-op threads are set to `runtime.intra_op_threads`.
//   5. A stop (on_error: fail and an item failed, or *stop_requested became true, e.g. on SIGINT)
//      emits no new items and lets the ones in flight finish.
//   6. After the graph drains every stage's close() runs (CloseContext: items_total = inputs listed,
//      items_ok includes items carried over by --resume), and the manifest is written a last time.
//
// Shards (RunOptions::shard, `--shard I/N`): right after enumerate() the run keeps the items whose
// position k in the whole list has k mod N == I; everything else above then applies to those items
// only. Item indices stay positions in the whole list, the manifest is DIR/manifest.shard-I-of-N.json
// (items_total = the shard's items; it records I, N and the hash of the whole input list), --resume
// reads that file, and close() gets CloseContext::shard_suffix so run-level files do not collide.
// Several shards may write into one directory at once; a second process of the SAME shard is refused
// (DIR/.lock.shard-I-of-N is held with flock(2) for the whole run; DIR/.lock for a whole run).
//
// The manifest is also rewritten every `manifest_interval_s` seconds during the run. Before each
// manifest write the files written so far are flushed to disk in one batch (flush_written_files()),
// so every file a manifest lists is durable. The lock file is removed when the run ends, and output
// folders the run created are removed again when it could not start (they would hold nothing).
// Thread safety: run_pipeline() may be called from any one thread; it blocks until the run ends.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "lrpflow/manifest.h"
#include "lrpflow/pipeline.h"
#include "lrpflow/shard.h"
#include "lrpflow/stage.h"
#include "lrpflow/status.h"

namespace lrpflow {

class PluginRegistry;

// Where the run stands; passed to RunOptions::on_progress after each item.
struct RunProgress {
  std::int64_t done = 0;        // items finished in this run (ok or failed)
  std::int64_t to_run = 0;      // items this run will process if not stopped
  std::int64_t failed = 0;
  std::int64_t skipped = 0;     // carried over by --resume
  double elapsed_s = 0;
};

struct RunOptions {
  bool resume = false;
  // --resume normally refuses a manifest whose ok items another configuration (pipeline text or
  // --set values) produced; with this it keeps them, and each item records its configuration.
  bool allow_changed_pipeline = false;
  // When it becomes true (a signal handler sets it) the run stops cleanly, as for on_error: fail.
  const std::atomic<bool>* stop_requested = nullptr;
  // When it becomes true (a second Ctrl-C) the run does not wait for the items in flight: it writes
  // the manifest as `interrupted` with the items recorded so far, removes its lock file and ends
  // the process with exit code 130 (std::_Exit).
  const std::atomic<bool>* quit_requested = nullptr;
  // Called after each item, from one thread at a time; keep it quick.
  std::function<void(const RunProgress&)> on_progress;
  double manifest_interval_s = 2.0;
  // Which part of the inputs this process runs; the default is the whole list.
  Shard shard;
};

struct ItemFailure {
  std::string item_id;
  std::string source;
  std::string stage;
  std::string message;
};

struct RunReport {
  std::filesystem::path output_dir;
  std::filesystem::path manifest_path;
  std::int64_t items_total = 0;    // inputs listed by the source (of a shard: the shard's items)
  std::int64_t items_ok = 0;       // processed ok in this run
  std::int64_t items_failed = 0;   // processed with an error in this run
  std::int64_t items_skipped = 0;  // carried over from the old manifest by --resume
  std::int64_t items_not_run = 0;  // never started because the run stopped early
  std::vector<StageStats> stages;  // execution order
  std::vector<ItemFailure> errors; // input order
  std::vector<OutputFile> run_outputs;
  std::vector<std::string> problems;  // run-level failures after the start: close(), manifest writes
  bool interrupted = false;           // stop_requested was set
  bool stopped_on_error = false;      // on_error: fail and an item failed
  std::int64_t max_in_flight_observed = 0;  // most items between the limiter and the sink at once
  double elapsed_s = 0;
  std::vector<ItemRef> all_inputs;  // the source's whole list, every shard's items (for `merge --mpi`)
  Shard shard;

  // 0: every item ok; 1: some item failed, the run stopped on an error, or a close()/manifest write
  // failed; 130: interrupted.
  int exit_code() const;
};

// Runs the pipeline. An error is returned only when the run could not start (output directory,
// old manifest, resource creation, stage open, input listing); failures of single items are in
// the report.
Result<RunReport> run_pipeline(const Pipeline& pipeline, const PluginRegistry& registry,
                               const RunOptions& options = {});

}  // namespace lrpflow
