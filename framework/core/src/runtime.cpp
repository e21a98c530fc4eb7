#include "lrpflow/runtime.h"
#include "lrpflow/open_resources.h"
#include "lrpflow/open_stages.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include <sys/stat.h>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <csignal>
#include <cerrno>
#include <cstring>
#include <limits>

#include <ATen/Parallel.h>
#include <fmt/format.h>
#include <tbb/flow_graph.h>
#include <tbb/global_control.h>
#include <tbb/task_arena.h>

#include "lrpflow/files.h"
#include "lrpflow/item_log.h"
#include "lrpflow/log.h"
#include "lrpflow/output_layout.h"
#include "lrpflow/registry.h"
#include "lrpflow/utf8.h"

namespace lrpflow {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

int RunReport::exit_code() const {
  if (interrupted) return 130;
  if (items_failed > 0 || stopped_on_error || !problems.empty()) return 1;
  return 0;
}

namespace {

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// One item travelling through the graph, with its position in the emitted sequence (what the
// sequencers order by: item indices have gaps when --resume skips items).
struct Token {
  Item item;  // as emitted; at the sink, the merged result of every stage
  // The item each stage worked on: a stage that is its input's only successor continues on its
  // input's item; concurrent branches each get an overlay of it; a join merges its inputs' items.
  std::vector<std::shared_ptr<Item>> items;
  std::unique_ptr<std::atomic<int>[]> arrivals;  // per join (stage or sink): inputs that have arrived
  std::size_t sequence = 0;
  std::vector<double> stage_ms;  // -1: the stage did not process the item
  // Admitted after a stop: the input node had already produced it. It travels through the graph
  // untouched (sequencers need every sequence number) and is not recorded.
  bool cancelled = false;
};
using TokenPtr = std::shared_ptr<Token>;

// Durations of one stage's process() calls, for mean and p95.
struct StageTimes {
  std::mutex mutex;
  std::vector<double> ms;
};

StageStats summarise(const StageConfig& stage, StageTimes& times) {
  StageStats stats;
  stats.id = stage.id;
  stats.type = stage.type;
  std::vector<double> ms;
  {
    std::lock_guard<std::mutex> lock(times.mutex);
    ms = times.ms;
  }
  stats.count = static_cast<std::int64_t>(ms.size());
  if (ms.empty()) return stats;
  double sum = 0;
  for (double v : ms) sum += v;
  stats.mean_ms = sum / static_cast<double>(ms.size());
  // Nearest-rank p95.
  const std::size_t rank = static_cast<std::size_t>(std::ceil(0.95 * static_cast<double>(ms.size())));
  std::nth_element(ms.begin(), ms.begin() + (rank - 1), ms.end());
  stats.p95_ms = ms[rank - 1];
  return stats;
}

// The stages' inputs and successors as indices (stages are in topological order).
struct StageGraph {
  std::vector<std::vector<std::size_t>> inputs;
  std::vector<std::vector<std::size_t>> successors;
  std::vector<std::size_t> leaves;  // stages nothing runs after: the sink's inputs
  // Per stage, and last for the sink: every stage that has finished with a token when it arrives.
  std::vector<std::vector<std::size_t>> ancestors;
};
StageGraph stage_graph(const std::vector<StageConfig>& stages) {
  StageGraph graph;
  const std::size_t n = stages.size();
  graph.inputs.resize(n);
  graph.successors.resize(n);
  std::map<std::string, std::size_t> index_of;
  for (std::size_t k = 0; k < n; ++k) index_of[stages[k].id] = k;
  for (std::size_t k = 0; k < n; ++k) {
    for (const std::string& input : stages[k].inputs) {
      const std::size_t up = index_of.at(input);
      graph.inputs[k].push_back(up);
      graph.successors[up].push_back(k);
    }
  }
  for (std::size_t k = 0; k < n; ++k)
    if (graph.successors[k].empty()) graph.leaves.push_back(k);
  std::vector<std::set<std::size_t>> ancestors(n);
  for (std::size_t k = 0; k < n; ++k) {
    for (std::size_t up : graph.inputs[k]) {
      ancestors[k].insert(up);
      ancestors[k].insert(ancestors[up].begin(), ancestors[up].end());
    }
    graph.ancestors.emplace_back(ancestors[k].begin(), ancestors[k].end());
  }
  graph.ancestors.emplace_back();
  for (std::size_t k = 0; k < n; ++k) graph.ancestors.back().push_back(k);
  return graph;
}

// One item from the items of the stages that meet at a join: an overlay of their deepest common
// item into which every branch's own overlays are folded in stage order (validation proved that
// concurrent branches write disjoint slots, so the order only decides the order of outputs).
// `finished` are the stages done with the token (the join's ancestors): only their items are read,
// since other branches may still be starting theirs.
std::shared_ptr<Item> merge_branches(const Token& token, const std::vector<std::size_t>& inputs,
                                     const std::vector<std::size_t>& finished) {
  if (inputs.size() == 1) return token.items[inputs.front()];
  std::map<const Item*, std::size_t> owner;  // each item object -> the first stage that worked on it
  for (auto k = finished.rbegin(); k != finished.rend(); ++k)
    if (token.items[*k]) owner[token.items[*k].get()] = *k;
  auto chain_of = [](std::shared_ptr<const Item> item) {
    std::vector<std::shared_ptr<const Item>> chain;
    for (; item; item = item->base()) chain.push_back(item);
    return chain;
  };
  std::vector<std::vector<std::shared_ptr<const Item>>> chains;
  for (std::size_t input : inputs) chains.push_back(chain_of(token.items[input]));
  std::shared_ptr<const Item> common;
  for (const auto& candidate : chains.front()) {
    bool everywhere = true;
    for (const auto& chain : chains)
      everywhere = everywhere && std::find(chain.begin(), chain.end(), candidate) != chain.end();
    if (everywhere) {
      common = candidate;
      break;
    }
  }
  std::map<std::size_t, const Item*> overlays;  // by owning stage: pipeline order
  for (const auto& chain : chains) {
    for (const auto& item : chain) {
      if (item == common) break;
      overlays[owner.at(item.get())] = item.get();
    }
  }
  auto merged = std::make_shared<Item>(common);
  for (const auto& [stage, overlay] : overlays) merged->absorb(*overlay);
  return merged;
}

ManifestItem record_of(const Token& token, const std::vector<StageConfig>& stages, const std::string& pipeline_hash,
                       const fs::path& output_dir) {
  ManifestItem record;
  record.id = token.item.id();
  record.pipeline_hash = pipeline_hash;
  // The item's source as read (raw bytes); the manifest and the report get it valid UTF-8.
  record.source = escape_invalid_utf8(token.item.source());
  record.index = token.item.index();
  record.ok = !token.item.failed();
  record.error = token.item.error();
  if (record.error) record.error->message = escape_invalid_utf8(record.error->message);
  record.outputs = token.item.outputs();
  record_output_sizes(record, output_dir);  // what --resume checks the files against
  record.metrics = token.item.metrics();
  for (std::size_t k = 0; k < stages.size(); ++k) {
    if (token.stage_ms[k] >= 0) record.timings_ms[stages[k].id] = token.stage_ms[k];
  }
  return record;
}

// What the pipeline hash covers: the text and the overrides, except those that say where the run
// writes and how many threads it uses: they do not change what it computes, and a resumed run may
// well use other ones.
std::vector<std::string> identity_overrides(const Pipeline& pipeline) {
  static const std::string kFlags[] = {"--out", "--threads", "--max-in-flight"};
  static const std::string kKeys[] = {"output.dir", "runtime.threads", "runtime.max_in_flight", "runtime.intra_op_threads"};
  std::vector<std::string> kept;
  for (const std::string& o : pipeline.overrides) {
    bool identity = true;
    for (const std::string& flag : kFlags) identity = identity && o != flag && o.rfind(flag + " ", 0) != 0;
    for (const std::string& key : kKeys) identity = identity && o.rfind("--set " + key + "=", 0) != 0;
    if (identity) kept.push_back(o);
  }
  return kept;
}

std::string pipeline_identity(const Pipeline& pipeline) {
  std::string identity = pipeline.text;
  for (const std::string& o : identity_overrides(pipeline)) identity += "\n" + o;
  return identity;
}


// --resume: the items done by another configuration than the current one, refused unless
// `allowed`. A run that carried them would record outputs of two configurations under one hash.
Status check_resume_provenance(const Manifest& old, const std::string& current_hash, const fs::path& manifest_path,
                               bool allowed) {
  std::map<std::string, std::int64_t> other;  // hash -> ok items done with it
  for (const ManifestItem& item : old.items) {
    if (item.ok && item.pipeline_hash != current_hash) ++other[item.pipeline_hash];
  }
  if (other.empty()) return Status::ok();
  std::string which;
  std::int64_t count = 0;
  for (const auto& [hash, n] : other) {
    which += (which.empty() ? "" : ", ") + std::to_string(n) + " by " + hash;
    count += n;
  }
  const std::string what = std::to_string(count) + " items in " + manifest_path.string() + " were done with another " +
                           "pipeline or other --set values (" + which + "; now " + current_hash + ")";
  if (!allowed) {
    return Status::error("cannot resume: " + what + ". Resume with the same pipeline and --set values, use another --out, " +
                         "or pass --allow-changed-pipeline to keep those items and run the rest with this configuration " +
                         "(the manifest and the report then say which item came from which)");
  }
  log_warn("--resume --allow-changed-pipeline: " + what + "; they are kept as they are and marked with their configuration");
  return Status::ok();
}

// An exclusive flock(2) on DIR/.lock[.shard-I-of-N], held for the whole run. The kernel drops it
// even when the process dies, so a stale lock file never blocks a later run; a run that ends
// removes the file (while still holding the lock, so no other run can be holding it).
// The folder DIR itself is flocked too: exclusively by a whole run, shared by a shard, so that
// shards of one run work side by side but never beside a whole run in the same folder.
class RunLock {
 public:
  RunLock() = default;
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;
  ~RunLock() { release(); }

  Status acquire(const fs::path& path, const std::string& what, bool whole_run) {
    const fs::path dir = path.parent_path();
    dir_fd_ = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd_ < 0) return Status::error("cannot open " + dir.string() + " to lock it: " + std::strerror(errno));
    if (::flock(dir_fd_, (whole_run ? LOCK_EX : LOCK_SH) | LOCK_NB) != 0) {
      const int error = errno;
      ::close(dir_fd_);
      dir_fd_ = -1;
      if (error == EWOULDBLOCK)
        return Status::error(std::string("another lrpflow process is running ") +
                             (whole_run ? "a run or a shard" : "a whole run (not a shard)") + " in " + dir.string() +
                             "; a whole run and shards cannot share an output folder: wait for it or use another --out");
      return Status::error("cannot lock " + dir.string() + ": " + std::strerror(error));
    }
    path_ = path;
    // A run that ends unlinks the file it locked: retry until the locked file is the one at `path`.
    for (int attempt = 0; attempt < 100; ++attempt) {
      fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
      if (fd_ < 0) return Status::error("cannot open lock file " + path.string() + ": " + std::strerror(errno));
      if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
        const int error = errno;
        ::close(fd_);
        fd_ = -1;
        if (error == EWOULDBLOCK) {
          return Status::error("another lrpflow process is already running " + what + " in " +
                               path.parent_path().string() + " (" + path.string() +
                               " is locked); wait for it or use another --out");
        }
        return Status::error("cannot lock " + path.string() + ": " + std::strerror(error));
      }
      struct stat locked {}, named {};
      if (::fstat(fd_, &locked) == 0 && ::stat(path.c_str(), &named) == 0 && locked.st_ino == named.st_ino &&
          locked.st_dev == named.st_dev) {
        const std::string pid = std::to_string(::getpid()) + "\n";  // for people looking at the file
        if (::ftruncate(fd_, 0) == 0) (void)!::write(fd_, pid.data(), pid.size());
        return Status::ok();
      }
      ::close(fd_);
      fd_ = -1;
    }
    return Status::error("cannot lock " + path.string() + ": it keeps being replaced by other runs");
  }

  const fs::path& path() const { return path_; }

  // Also called on a second Ctrl-C, right before the process ends without destructors.
  void release() {
    if (fd_ >= 0) {
      ::unlink(path_.c_str());
      ::close(fd_);  // closing drops the lock
      fd_ = -1;
    }
    if (dir_fd_ >= 0) ::close(dir_fd_);
    dir_fd_ = -1;
  }

 private:
  fs::path path_;
  int fd_ = -1;
  int dir_fd_ = -1;
};

// The lock files of DIR (.lock, .lock.shard-I-of-N) other than `own` that another run holds now.
std::vector<fs::path> locks_held_by_other_runs(const fs::path& dir, const fs::path& own) {
  std::vector<fs::path> held;
  std::error_code ec;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if ((name != ".lock" && name.rfind(".lock.shard-", 0) != 0) || entry.path() == own) continue;
    const int fd = ::open(entry.path().c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;  // gone: its run has ended
    if (::flock(fd, LOCK_SH | LOCK_NB) != 0) {
      if (errno == EWOULDBLOCK) held.push_back(entry.path());
    } else {
      ::flock(fd, LOCK_UN);
    }
    ::close(fd);
  }
  return held;
}

// Removes the temporaries (files.h) that killed runs left in `dir`. Only while no other run holds
// a lock of the folder: the shards of a run share it and may run on other machines, where a pid
// says nothing. Then a temporary is stale unless its writer is a live process here other than
// this one (e.g. `lrpflow report` writing its pages); this process's own unfinished writes are
// never touched (remove_stale_temporaries()).
// `recorded`: the files the old manifest lists, which are outputs even if an id made their names look
// like temporaries.
void remove_stale_temporaries_of_run(const fs::path& dir, const fs::path& own_lock, const std::set<fs::path>& recorded) {
  const std::vector<fs::path> others = locks_held_by_other_runs(dir, own_lock);
  if (!others.empty()) {
    log_debug("not removing stale temporaries in " + dir.string() + ": another run holds " + others.front().string());
    return;
  }
  const long self = static_cast<long>(::getpid());
  const RemovedTemporaries removed = remove_stale_temporaries(dir, [&](const fs::path& path, long pid) {
    if (recorded.count(path.lexically_normal())) return false;
    if (pid == self) return true;
    return pid <= 0 || pid > std::numeric_limits<pid_t>::max() || (::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH);
  });
  for (const std::string& problem : removed.problems) log_warn(problem);
  if (!removed.removed.empty()) {
    log_info("removed " + std::to_string(removed.removed.size()) + " stale temporary file(s) left in " + dir.string() +
             " by an earlier run that was killed (e.g. " + removed.removed.front().string() + ")");
  }
}

// Removes the output directories a run created when they end up empty (a run that could not
// start leaves no folder behind). Declared before the RunLock so that the lock file goes first.
class CreatedDirectories {
 public:
  explicit CreatedDirectories(const fs::path& dir) : dir_(dir) {
    std::error_code ec;
    for (fs::path p = dir; !p.empty() && !fs::exists(p, ec); p = p.parent_path()) {
      first_created_ = p;
      if (p == p.parent_path()) break;
    }
  }
  CreatedDirectories(const CreatedDirectories&) = delete;
  CreatedDirectories& operator=(const CreatedDirectories&) = delete;
  ~CreatedDirectories() { remove_if_empty(); }

  void remove_if_empty() {
    if (first_created_.empty()) return;
    std::error_code ec;
    for (fs::path p = dir_; !p.empty(); p = p.parent_path()) {
      if (!fs::is_directory(p, ec) || !fs::is_empty(p, ec) || !fs::remove(p, ec)) break;
      if (p == first_created_) break;
    }
  }

 private:
  fs::path dir_;
  fs::path first_created_;  // the outermost directory the run created; empty: none
};

// One run of a pipeline, in four parts that run_pipeline calls in turn:
//   open_run()       the folder and its lock, the quit watcher, the old manifest (--resume), stale
//                    temporaries, then the resources and the stages;
//   plan_items()     the inputs listed and checked, this shard's share, what --resume carries over,
//                    the item log and the first manifest;
//   execute_graph()  the oneTBB flow graph of the stages, recording each item as it finishes;
//   finish()         close() every stage with the run's outcome, and the final manifest.
// Members are declared in the order the parts create them: destruction undoes them in reverse
// (stages closed before resources go, the quit watcher joined before the lock is released).
class Run {
 public:
  Run(const Pipeline& pipeline, const PluginRegistry& registry, const RunOptions& options)
      : pipeline_(pipeline), registry_(registry), options_(options), stages_(pipeline.stages),
        created_dirs_(pipeline.output_dir) {}
  Run(const Run&) = delete;
  Run& operator=(const Run&) = delete;
  ~Run() {
    quit_watch_done_ = true;
    if (quit_watch_.joinable()) quit_watch_.join();
  }

  Status open_run();
  Status plan_items();
  void execute_graph();
  RunReport finish();

 private:
  struct Pending {
    std::int64_t index;
    const ItemRef* ref;
  };

  std::vector<StageStats> current_stats() {
    std::vector<StageStats> stats;
    for (std::size_t k = 0; k < times_.size(); ++k) stats.push_back(summarise(stages_[k], *times_[k]));
    return stats;
  }
  // Makes the files written so far durable, then the item log, then writes the manifest with the
  // log's durable length. Callers hold manifest_mutex_.
  Status checkpoint() {
    if (!item_log_) return write_manifest(report_.manifest_path, manifest_);
    if (Status flushed = flush_written_files(); !flushed) return flushed;
    LRPFLOW_RETURN_IF_ERROR(item_log_->sync());
    manifest_.items_log = ManifestItemLog{item_log_->path().filename().string(), item_log_->synced_bytes()};
    return write_manifest(report_.manifest_path, manifest_);
  }
  bool stop_requested() const { return options_.stop_requested && options_.stop_requested->load(); }
  void watch_for_quit();
  Status check_item_names() const;
  Status carry_over_done_items(const std::vector<std::size_t>& positions);
  void record_item(Token& token);

  const Pipeline& pipeline_;
  const PluginRegistry& registry_;
  const RunOptions& options_;
  const std::vector<StageConfig>& stages_;
  const Clock::time_point run_start_ = Clock::now();
  RunReport report_;
  std::string shard_suffix_;
  std::string pipeline_hash_;
  CreatedDirectories created_dirs_;
  RunLock lock_;

  // The manifest and what the quit watcher may write; the sink changes it under this mutex.
  Manifest manifest_;
  std::mutex manifest_mutex_;
  bool manifest_started_ = false;  // the first manifest is written: a quit writes one too
  bool run_over_ = false;          // the final manifest is written: a quit has nothing to add
  std::vector<std::unique_ptr<StageTimes>> times_;
  // Items are recorded in the item log, not in memory (item_log.h).
  std::unique_ptr<ItemLog> item_log_;
  std::atomic<bool> quit_watch_done_{false};
  std::thread quit_watch_;

  std::map<std::string, ManifestItem> previous_;  // --resume: the old manifest's items, until carried
  std::vector<ManifestConfiguration> previous_configurations_;
  std::vector<std::string> run_warnings_;
  std::optional<OpenedResources> resources_;
  std::optional<StageGraph> stage_links_;
  std::optional<OpenedStages> open_;  // closed with nothing_ran if the run ends before finish()

  std::vector<ItemRef> refs_;       // every input of the run, in order
  std::vector<Pending> to_run_;     // this session's items
  std::map<std::string, std::int64_t> failed_index_;  // the sink's, for ordering the errors
  std::atomic<bool> stop_emitting_{false};
  std::atomic<bool> stopped_on_error_{false};
  std::atomic<std::int64_t> in_flight_{0};
  std::atomic<std::int64_t> max_in_flight_{0};
  RunProgress progress_;
  Clock::time_point last_manifest_write_;
};

// A second Ctrl-C (options.quit_requested) ends the process without waiting for the items in
// flight; the manifest then says `interrupted` and lists the items recorded so far.
void Run::watch_for_quit() {
  if (!options_.quit_requested) return;
  quit_watch_ = std::thread([this] {
    while (!quit_watch_done_.load()) {
      if (options_.quit_requested->load()) {
        std::lock_guard<std::mutex> guard(manifest_mutex_);
        if (run_over_) return;
        if (manifest_started_) {
          manifest_.run.state = "interrupted";
          manifest_.run.finished_at = utc_timestamp();
          manifest_.stages = current_stats();
          if (Status written = checkpoint(); !written) log_error("cannot write the manifest: " + written.message());
        }
        remove_unfinished_temporaries();
        lock_.release();
        if (!manifest_started_) created_dirs_.remove_if_empty();
        log_warn("quitting now: the items in flight are not recorded");
        std::_Exit(130);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
}

Status Run::open_run() {
  report_.output_dir = pipeline_.output_dir;
  const Shard& shard = options_.shard;
  report_.shard = shard;
  report_.manifest_path = pipeline_.output_dir / shard.manifest_name();
  if (stages_.empty()) return Status::error("the pipeline has no stages");
  if (shard.count < 1 || shard.index < 0 || shard.index >= shard.count) {
    return Status::error("invalid shard " + std::to_string(shard.index) + "/" + std::to_string(shard.count));
  }
  shard_suffix_ = shard.suffix();

  std::error_code ec;
  fs::create_directories(pipeline_.output_dir, ec);
  if (ec || !fs::is_directory(pipeline_.output_dir)) {
    return Status::error("cannot create output directory " + pipeline_.output_dir.string() +
                         (ec ? ": " + ec.message() : ""));
  }
  LRPFLOW_RETURN_IF_ERROR(lock_.acquire(pipeline_.output_dir / (".lock" + shard_suffix_),
                                        shard.is_whole() ? "this pipeline"
                                                         : "shard " + std::to_string(shard.index) + "/" +
                                                               std::to_string(shard.count),
                                        shard.is_whole()));
  watch_for_quit();

  // The old manifest, for --resume.
  pipeline_hash_ = fingerprint(pipeline_identity(pipeline_));
  if (options_.resume) {
    if (fs::exists(report_.manifest_path, ec)) {
      auto old = read_manifest(report_.manifest_path);
      if (!old) return Status::error("cannot resume: " + old.status().message());
      LRPFLOW_RETURN_IF_ERROR(check_resume_provenance(old.value(), pipeline_hash_, report_.manifest_path,
                                                      options_.allow_changed_pipeline));
      for (ManifestItem& item : old.value().items) previous_[item.id] = std::move(item);
      previous_configurations_ = old.value().configurations;
    } else {
      log_info("--resume: no " + report_.manifest_path.string() + " yet; running every item");
    }
  }

  // Temporaries of writes a killed run never finished (files.h): nobody else removes them.
  {
    std::set<fs::path> recorded;
    for (const auto& [id, item] : previous_) {
      for (const OutputFile& file : item.outputs) recorded.insert((pipeline_.output_dir / file.path).lexically_normal());
    }
    remove_stale_temporaries_of_run(pipeline_.output_dir, lock_.path(), recorded);
  }

  // Resources, then stages.
  resources_.emplace(open_resources(pipeline_, registry_));
  for (const std::string& warning : resources_->warnings) log_warn(warning);
  if (!resources_->ok()) {
    for (std::size_t d = 1; d < resources_->diagnostics.size(); ++d) log_error(resources_->diagnostics[d].message);
    return Status::error(resources_->diagnostics.front().message);
  }
  run_warnings_ = std::move(resources_->warnings);
  stage_links_.emplace(stage_graph(stages_));
  open_.emplace(open_stages(pipeline_, registry_, resources_->resources));
  if (!open_->ok()) return Status::error(open_->diagnostics.front().message);
  if (!open_->instance(0)->is_source()) return Status::error("stage '" + stages_.front().id + "' is not a source stage");
  return Status::ok();
}

// Distinct ids, and distinct file stems: "a/b" and "a:b" must not share a_b's files.
// safe_name_component() keeps them apart; this catches names crafted to collide anyway.
Status Run::check_item_names() const {
  std::map<std::string, const ItemRef*> seen_ids;
  std::map<std::string, const ItemRef*> seen_stems;
  for (const ItemRef& ref : refs_) {
    auto [id, new_id] = seen_ids.emplace(ref.id, &ref);
    if (!new_id) {
      return Status::error("stage '" + stages_.front().id + "': two inputs have the id '" + ref.id + "' (" +
                           escape_invalid_utf8(id->second->source) + " and " + escape_invalid_utf8(ref.source) +
                           "); item ids name output files and must be unique");
    }
    auto [stem, new_stem] = seen_stems.emplace(safe_name_component(ref.id), &ref);
    if (!new_stem) {
      return Status::error("stage '" + stages_.front().id + "': the inputs '" + stem->second->id + "' (" +
                           escape_invalid_utf8(stem->second->source) + ") and '" + ref.id + "' (" +
                           escape_invalid_utf8(ref.source) + ") would write the same files '" + stem->first +
                           ".*'; rename one of them");
    }
  }
  return Status::ok();
}

// --resume: items of the old manifest that are done go into this session's item log; the rest,
// and every item of a fresh run, go into to_run_.
Status Run::carry_over_done_items(const std::vector<std::size_t>& positions) {
  std::map<std::string, std::int64_t> carried_per_configuration;
  constexpr std::int64_t kRedoWarnings = 10;  // then one line with the count: a wiped folder would flood the log
  std::int64_t redone = 0;
  for (std::size_t i : positions) {
    auto it = previous_.find(refs_[i].id);
    bool done = it != previous_.end() && it->second.ok && it->second.source == escape_invalid_utf8(refs_[i].source);
    if (done) {
      // A file missing, cut short (a full disk) or pointing out of the folder (an edited manifest): redo the item.
      if (Status intact = check_outputs(it->second, pipeline_.output_dir); !intact) {
        if (++redone <= kRedoWarnings) {
          log_warn("--resume: " + report_.manifest_path.string() + ": item '" + refs_[i].id +
                   "' is run again: " + intact.message());
        }
        done = false;
      }
    }
    if (done) {
      ManifestItem& carried = it->second;
      carried.index = static_cast<std::int64_t>(i);
      ++carried_per_configuration[carried.pipeline_hash];
      if (Status logged = item_log_->append(carried); !logged) {
        item_log_->remove();
        return logged;
      }
      ++report_.items_skipped;
      continue;
    }
    to_run_.push_back({static_cast<std::int64_t>(i), &refs_[i]});
  }
  if (redone > kRedoWarnings) {
    log_warn("--resume: " + std::to_string(redone) + " items recorded as ok in " + report_.manifest_path.string() +
             " are run again because a file of theirs is missing, of another size or outside the folder (the first " +
             std::to_string(kRedoWarnings) + " are named above)");
  }
  // Provenance: the configurations of the carried items (older first), then this run's own.
  for (const ManifestConfiguration& c : previous_configurations_) {
    if (carried_per_configuration.count(c.pipeline_hash)) add_configuration(manifest_, c);
  }
  add_configuration(manifest_, {pipeline_hash_, pipeline_.file.string(), identity_overrides(pipeline_),
                                manifest_.run.started_at});
  if (options_.resume && report_.items_skipped > 0) {
    log_info("--resume: " + std::to_string(report_.items_skipped) + " of " + std::to_string(positions.size()) +
             " items already done");
  }
  previous_.clear();  // carried into the log
  return Status::ok();
}

Status Run::plan_items() {
  const Shard& shard = options_.shard;
  auto listed = open_->instance(0)->enumerate();
  if (!listed) {
    return Status::error("stage '" + stages_.front().id + "' (" + stages_.front().type +
                         "): cannot list inputs: " + listed.status().message());
  }
  // Ids go into JSON and HTML: bytes that are not UTF-8 (a file name in Latin-1) are escaped, and
  // stay told apart. Sources keep their bytes: the loader opens them.
  refs_ = std::move(listed).value();
  for (ItemRef& ref : refs_) ref.id = escape_invalid_utf8(ref.id);
  LRPFLOW_RETURN_IF_ERROR(check_item_names());
  std::string input_list;
  for (const ItemRef& ref : refs_) input_list += ref.id + "\t" + ref.source + "\n";

  manifest_.run.pipeline_file = pipeline_.file.string();
  manifest_.run.pipeline_hash = pipeline_hash_;
  manifest_.run.inputs_hash = fingerprint(input_list);
  manifest_.run.lrpflow_version = lrpflow_version();
  manifest_.run.started_at = utc_timestamp();
  manifest_.run.state = "running";
  manifest_.run.threads = pipeline_.runtime.threads;
  manifest_.run.max_in_flight = pipeline_.runtime.max_in_flight;
  manifest_.run.warnings = run_warnings_;
  // The shard's positions in the whole list; the items keep their whole-list positions as indices.
  std::vector<std::size_t> positions;
  for (std::size_t i = 0; i < refs_.size(); ++i) {
    if (shard.contains(static_cast<std::int64_t>(i))) positions.push_back(i);
  }
  manifest_.run.items_total = static_cast<std::int64_t>(positions.size());
  manifest_.run.shard_index = shard.index;
  manifest_.run.shard_count = shard.count;
  report_.items_total = manifest_.run.items_total;
  report_.all_inputs = refs_;
  if (!shard.is_whole()) {
    log_info("shard " + std::to_string(shard.index) + " of " + std::to_string(shard.count) + " (" + shard.source +
             "): " + std::to_string(positions.size()) + " of " + std::to_string(refs_.size()) + " items, manifest " +
             report_.manifest_path.string());
  }

  // The item log of this session, beside the manifest; a killed earlier session's log (which its
  // manifest refers to) goes once this session's first checkpoint no longer needs it.
  std::error_code ec;
  const fs::path manifest_stem = report_.manifest_path.stem();
  std::vector<fs::path> stale_logs;
  for (const auto& entry : fs::directory_iterator(pipeline_.output_dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(manifest_stem.string() + ".items.", 0) == 0 && entry.path().extension() == ".jsonl")
      stale_logs.push_back(entry.path());
  }
  {
    auto created = ItemLog::create(pipeline_.output_dir /
                                   (manifest_stem.string() + ".items." + std::to_string(::getpid()) + ".jsonl"));
    if (!created) return created.status();
    item_log_ = std::move(created).value();
  }
  LRPFLOW_RETURN_IF_ERROR(carry_over_done_items(positions));
  for (std::size_t k = 0; k < stages_.size(); ++k) times_.push_back(std::make_unique<StageTimes>());
  std::lock_guard<std::mutex> guard(manifest_mutex_);
  Status written = checkpoint();
  if (written) {
    for (const fs::path& stale : stale_logs)
      if (stale != item_log_->path()) fs::remove(stale, ec);
  } else {
    report_.problems.push_back(written.message());
  }
  manifest_started_ = true;
  return Status::ok();
}

// The sink: an item that left the graph goes into the item log (and a checkpoint, now and then).
void Run::record_item(Token& token) {
  --in_flight_;
  if (token.cancelled) {
    token.items.clear();
    return;
  }
  token.item = merge_branches(token, stage_links_->leaves, stage_links_->ancestors.back())->record();
  token.items.clear();  // the slots of every branch go with them
  ManifestItem record = record_of(token, stages_, pipeline_hash_, pipeline_.output_dir);
  if (record.ok) {
    ++report_.items_ok;
  } else {
    ++report_.items_failed;
    ++progress_.failed;
    report_.errors.push_back({record.id, record.source, record.error->stage, record.error->message});
    log_debug("item '" + record.id + "' failed in stage '" + record.error->stage + "': " + record.error->message);
    if (pipeline_.runtime.on_error == OnError::Fail && !stopped_on_error_.exchange(true)) {
      stop_emitting_ = true;
      log_error("item '" + record.id + "' failed in stage '" + record.error->stage +
                "' and on_error is 'fail': stopping after the items in flight");
    }
  }
  std::lock_guard<std::mutex> guard(manifest_mutex_);
  if (!record.ok) failed_index_[record.id] = record.index;
  if (Status logged = item_log_->append(record); !logged) {
    // Not recorded: a --resume runs the item again.
    report_.problems.push_back("item '" + record.id + "' is not recorded: " + logged.message());
    log_error(report_.problems.back());
  }
  ++progress_.done;
  progress_.elapsed_s = ms_since(run_start_) / 1000.0;
  if (options_.on_progress) options_.on_progress(progress_);
  if (ms_since(last_manifest_write_) >= options_.manifest_interval_s * 1000.0) {
    manifest_.stages = current_stats();
    const auto checkpoint_start = Clock::now();
    if (Status written = checkpoint(); !written) log_warn("cannot update the manifest: " + written.message());
    log_debug(fmt::format("checkpoint of {} items: {:.3f} ms", item_log_->count(), ms_since(checkpoint_start)));
    last_manifest_write_ = Clock::now();
  }
}

void Run::execute_graph() {
  const std::size_t stage_count = stages_.size();
  const StageGraph& links = *stage_links_;
  std::size_t next_to_emit = 0;
  progress_.to_run = static_cast<std::int64_t>(to_run_.size());
  progress_.skipped = report_.items_skipped;
  last_manifest_write_ = Clock::now();  // plan_items() just wrote one

  at::set_num_threads(pipeline_.runtime.intra_op_threads);
  // TBB caps workers at the number of cores unless told otherwise; honour an explicit request
  // for more threads (e.g. stages that mostly wait on I/O).
  std::unique_ptr<tbb::global_control> allow_threads;
  if (pipeline_.runtime.threads > tbb::this_task_arena::max_concurrency()) {
    allow_threads = std::make_unique<tbb::global_control>(tbb::global_control::max_allowed_parallelism,
                                                          static_cast<std::size_t>(pipeline_.runtime.threads));
  }
  tbb::task_arena arena(pipeline_.runtime.threads);
  std::string graph_error;
  arena.execute([&] {
    using namespace tbb::flow;
    graph g;
    input_node<TokenPtr> emitter(g, [&](tbb::flow_control& control) -> TokenPtr {
      if (next_to_emit >= to_run_.size() || stop_emitting_.load() || stop_requested()) {
        if (stop_requested() && next_to_emit < to_run_.size()) {
          log_warn("stopping: finishing the items in flight, then writing the manifest (Ctrl-C again to quit now)");
        }
        control.stop();
        return nullptr;
      }
      const Pending& pending = to_run_[next_to_emit];
      auto token = std::make_shared<Token>();
      token->item = Item(pending.index, pending.ref->id, pending.ref->source);
      token->sequence = next_to_emit++;
      token->stage_ms.assign(stage_count, -1.0);
      token->items.resize(stage_count);
      token->arrivals.reset(new std::atomic<int>[stage_count + 1]());
      return token;
    });
    limiter_node<TokenPtr> limiter(g, static_cast<std::size_t>(pipeline_.runtime.max_in_flight));
    function_node<TokenPtr, TokenPtr> admit(g, unlimited, [&](TokenPtr token) {
      if (stop_emitting_.load() || stop_requested()) token->cancelled = true;
      const std::int64_t now = ++in_flight_;
      std::int64_t seen = max_in_flight_.load();
      while (now > seen && !max_in_flight_.compare_exchange_weak(seen, now)) {
      }
      return token;
    });
    make_edge(emitter, limiter);
    make_edge(limiter, admit);

    // One node per stage, connected as the pipeline's `inputs` say: a stage with several inputs
    // waits for all of them (a join per token), sequencers go in front of ordered stages.
    std::vector<std::unique_ptr<function_node<TokenPtr, TokenPtr>>> stage_nodes;
    std::vector<std::unique_ptr<sequencer_node<TokenPtr>>> sequencers;
    using JoinNode = multifunction_node<TokenPtr, std::tuple<TokenPtr>>;
    std::vector<std::unique_ptr<JoinNode>> joins;
    // The node that receives a token when all of `inputs` have finished with it.
    auto join_of = [&](const std::vector<std::size_t>& inputs, std::size_t slot) {
      const int expected = static_cast<int>(inputs.size());
      joins.push_back(std::make_unique<JoinNode>(g, unlimited, [slot, expected](TokenPtr token, JoinNode::output_ports_type& ports) {
        if (++token->arrivals[slot] == expected) std::get<0>(ports).try_put(std::move(token));
      }));
      for (std::size_t input : inputs) make_edge(*stage_nodes[input], *joins.back());
    };
    for (std::size_t k = 0; k < stage_count; ++k) {
      const StageConfig& config = stages_[k];
      StageInstance* instance = open_->instance(k);
      StageTimes* stage_times = times_[k].get();
      const std::size_t concurrency = config.info->reentrant ? unlimited : serial;
      const std::vector<std::size_t>& inputs = links.inputs[k];
      const bool continues_input = inputs.size() == 1 && links.successors[inputs.front()].size() == 1;
      stage_nodes.push_back(std::make_unique<function_node<TokenPtr, TokenPtr>>(
          g, concurrency, [k, &config, &inputs, &finished = links.ancestors[k], continues_input, instance,
                           stage_times](TokenPtr token) {
            std::shared_ptr<Item>& item = token->items[k];
            if (inputs.empty()) {
              item = std::make_shared<Item>(std::move(token->item));
            } else if (continues_input) {
              item = token->items[inputs.front()];
            } else if (inputs.size() == 1) {
              item = std::make_shared<Item>(std::shared_ptr<const Item>(token->items[inputs.front()]));
            } else {
              item = merge_branches(*token, inputs, finished);
            }
            if (token->cancelled || item->failed()) return token;  // passes through untouched
            const auto start = Clock::now();
            const Status status = instance->process(*item);
            const double ms = ms_since(start);
            token->stage_ms[k] = ms;
            {
              std::lock_guard<std::mutex> lock(stage_times->mutex);
              stage_times->ms.push_back(ms);
            }
            if (!status) item->fail(config.id, status.message());
            return token;
          }));
      receiver<TokenPtr>* to = stage_nodes.back().get();
      if (config.info->ordered) {
        sequencers.push_back(std::make_unique<sequencer_node<TokenPtr>>(
            g, [](const TokenPtr& token) { return token->sequence; }));
        make_edge(*sequencers.back(), *stage_nodes.back());
        to = sequencers.back().get();
      }
      if (inputs.empty()) {
        make_edge(admit, *to);
      } else if (inputs.size() == 1) {
        make_edge(*stage_nodes[inputs.front()], *to);
      } else {
        join_of(inputs, k);
        make_edge(output_port<0>(*joins.back()), *to);
      }
    }

    function_node<TokenPtr, continue_msg> sink(g, serial, [&](TokenPtr token) {
      record_item(*token);
      return continue_msg();
    });
    if (links.leaves.size() == 1) {
      make_edge(*stage_nodes[links.leaves.front()], sink);
    } else {
      join_of(links.leaves, stage_count);
      make_edge(output_port<0>(*joins.back()), sink);
    }
    make_edge(sink, limiter.decrementer());

    try {
      emitter.activate();
      g.wait_for_all();
    } catch (const std::exception& e) {
      graph_error = exception_message(e);
    }
  });
  if (!graph_error.empty()) report_.problems.push_back("the run was aborted by an internal error: " + graph_error);
}

RunReport Run::finish() {
  report_.stopped_on_error = stopped_on_error_.load();
  report_.items_not_run = static_cast<std::int64_t>(to_run_.size()) - progress_.done;
  // A stop requested after the last item was emitted lost nothing: the run is complete.
  report_.interrupted = stop_requested() && report_.items_not_run > 0;
  report_.max_in_flight_observed = max_in_flight_.load();

  // close() every stage, in execution order.
  CloseContext close_ctx;
  close_ctx.output_dir = pipeline_.output_dir;
  close_ctx.items_total = report_.items_total;
  close_ctx.items_ok = report_.items_ok + report_.items_skipped;
  close_ctx.items_failed = report_.items_failed;
  close_ctx.interrupted = report_.interrupted || report_.stopped_on_error;
  close_ctx.run_outputs = &report_.run_outputs;
  close_ctx.shard_suffix = shard_suffix_;
  // The graph has drained: nothing appends to the log while the stages read it back.
  close_ctx.for_each_ok_item = [&](const std::function<Status(const RecordedItem&)>& visit) {
    std::lock_guard<std::mutex> guard(manifest_mutex_);
    return item_log_->for_each(
        [&](const ManifestItem& item) { return visit({item.id, item.index, item.outputs, item.metrics}); }, true);
  };
  for (std::string& problem : open_->close_all(close_ctx)) report_.problems.push_back(std::move(problem));

  // Errors in input order: the sink saw them in completion order.
  std::stable_sort(report_.errors.begin(), report_.errors.end(), [&](const ItemFailure& a, const ItemFailure& b) {
    return failed_index_[a.item_id] < failed_index_[b.item_id];
  });
  report_.stages = current_stats();
  report_.elapsed_s = ms_since(run_start_) / 1000.0;
  std::lock_guard<std::mutex> guard(manifest_mutex_);
  manifest_.stages = report_.stages;
  manifest_.run_outputs = report_.run_outputs;
  manifest_.run.finished_at = utc_timestamp();
  manifest_.run.state = report_.interrupted ? "interrupted" : report_.stopped_on_error ? "stopped" : "complete";
  // The final manifest lists every item inline, read back from the log, which then goes; if it
  // cannot be written, a checkpoint (with the log kept) records the end instead.
  manifest_.items_log.reset();
  Status final_written = write_manifest(report_.manifest_path, manifest_, [&](const std::function<Status(const ManifestItem&)>& visit) {
    return item_log_->for_each(visit);
  });
  if (final_written) {
    item_log_->remove();
  } else {
    report_.problems.push_back(final_written.message());
    if (Status written = checkpoint(); !written) report_.problems.push_back(written.message());
  }
  run_over_ = true;
  return std::move(report_);
}

}  // namespace

Result<RunReport> run_pipeline(const Pipeline& pipeline, const PluginRegistry& registry, const RunOptions& options) {
  Run run(pipeline, registry, options);
  LRPFLOW_RETURN_IF_ERROR(run.open_run());
  LRPFLOW_RETURN_IF_ERROR(run.plan_items());
  run.execute_graph();
  return run.finish();
}

}  // namespace lrpflow
