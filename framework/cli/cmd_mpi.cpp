// `lrpflow run PIPELINE --mpi` under mpirun: rank R of S runs shard R/S into the shared output
// directory, every rank then sends its outcome to rank 0 (MPI_Gather, which is also the barrier),
// and rank 0 merges the shard manifests into DIR/manifest.json and builds the report. A rank whose
// run failed, or that left no complete manifest, has its items recorded as errors
// "rank R failed: ..." in the merged manifest, so none is lost silently. Built only where CMake
// found MPI (LRPFLOW_WITH_MPI); elsewhere --mpi is an error that says so.
#include <algorithm>
#include <array>
#include <cstring>

#include "commands.h"
#include "lrpflow/log.h"
#include "lrpflow/report.h"
#include "lrpflow/shard_merge.h"

#ifdef LRPFLOW_WITH_MPI
#include <mpi.h>
#endif

namespace lrpflow::cli {

#ifndef LRPFLOW_WITH_MPI

int run_mpi(const Pipeline&, PluginRegistry&, const ResumeFlags&) {
  log_error("--mpi: this lrpflow was built without MPI (install Open MPI, e.g. Debian's libopenmpi-dev, and rebuild); "
            "use --shard I/N or --shard auto instead");
  return kExitInvalid;
}

#else

namespace {

// What a rank sends to rank 0: its exit code and, when it failed, why (truncated to fit).
struct RankOutcome {
  int exit_code = 0;
  std::array<char, 480> message{};
};

}  // namespace

int run_mpi(const Pipeline& pipeline, PluginRegistry& registry, const ResumeFlags& resume) {
  int already = 0;
  MPI_Initialized(&already);
  if (!already) {
    int provided = 0;
    // Only the main thread calls MPI; TBB workers never do.
    if (MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
      log_error("--mpi: MPI_Init failed");
      return kExitInvalid;
    }
  }
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  const Shard shard{rank, size, "MPI rank " + std::to_string(rank) + " of " + std::to_string(size)};
  log_info("--mpi: shard " + std::to_string(rank) + "/" + std::to_string(size) + " from the MPI rank");

  std::optional<RunReport> report;
  RankOutcome mine;
  std::string start_error;
  mine.exit_code = run_pipeline_shard(pipeline, registry, resume, shard, &report, &start_error);
  std::string why;
  if (!report) {
    why = "the run did not start: " + start_error;
  } else if (report->interrupted) {
    why = "interrupted";
  } else if (!report->problems.empty()) {
    why = report->problems.front();
  }
  std::strncpy(mine.message.data(), why.c_str(), mine.message.size() - 1);

  std::vector<RankOutcome> outcomes(rank == 0 ? static_cast<std::size_t>(size) : 0);
  MPI_Gather(&mine, static_cast<int>(sizeof(RankOutcome)), MPI_BYTE, outcomes.data(), static_cast<int>(sizeof(RankOutcome)),
             MPI_BYTE, 0, MPI_COMM_WORLD);

  int exit_code = mine.exit_code;
  if (rank == 0) {
    MergeOptions options;
    options.mean_csv_keys = mean_csv_keys(registry);
    options.shard_count = size;
    options.tolerate_failed_shards = true;
    if (report) options.all_inputs = report->all_inputs;
    for (int r = 0; r < size; ++r) {
      const RankOutcome& o = outcomes[static_cast<std::size_t>(r)];
      exit_code = std::max(exit_code, o.exit_code == kExitInterrupted ? kExitItemsFailed : o.exit_code);
      if (o.message[0] != '\0') options.shard_failures[r] = std::string(o.message.data());
    }
    auto merged = merge_shards(pipeline.output_dir, options);
    if (!merged) {
      log_error("--mpi: rank 0 cannot merge the shards: " + merged.status().message());
      exit_code = kExitInvalid;
    } else {
      for (const std::string& warning : merged.value().warnings) log_warn("--mpi merge: " + warning);
      log_info("--mpi: merged " + std::to_string(size) + " shards, " + std::to_string(merged.value().manifest.items.size()) +
               " items (" + std::to_string(merged.value().items_failed) + " failed) into " +
               (pipeline.output_dir / "manifest.json").string());
      if (merged.value().items_failed > 0) exit_code = std::max(exit_code, kExitItemsFailed);
      if (pipeline.write_report) exit_code = write_report_after(pipeline.output_dir, merged.value().manifest, registry, exit_code);
    }
  }
  // Every rank returns rank 0's verdict would need another collective; each rank reports its own
  // shard, rank 0 the whole run (mpirun exits non-zero when any rank does).
  MPI_Finalize();
  return exit_code;
}

#endif

}  // namespace lrpflow::cli
