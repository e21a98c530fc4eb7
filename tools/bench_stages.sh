#!/usr/bin/env bash
# Benchmark: the quickstart's per-stage times of two lrpflow binaries, "before" (BEFORE: a build of
# the code to compare with, required) and "after" (this tree's build), in one invocation so that both
# see the same machine load, alternating for ROUNDS rounds. With ISOLATE=1 each round also runs
# "after" with LRPFLOW_NO_DIRECT_ONEDNN=1, which separates the direct oneDNN calls (kernels.h) from
# the rest of a change. Prints each run's per-stage table and the heatmap, deconv, fidelity and
# critical_paths time per item relative to the LRP stage's. See docs/performance.md.
#
#   BEFORE=/path/old/build/bin/lrpflow tools/bench_stages.sh       # 200 items, outputs in build/bench_stages
#   BEFORE=/path/old/lrpflow AFTER=build/bin/lrpflow COUNT=50 OUT=/dev/shm/bench THREADS=1 ROUNDS=2 tools/bench_stages.sh
#
# OUT on a tmpfs (/dev/shm) keeps the file system out of the figures: on ext4, creating files
# where many were just deleted (an earlier round's outputs) costs more with every round.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
BEFORE=${BEFORE:?set BEFORE to the lrpflow binary to compare with (e.g. a build of an older commit)}
AFTER=${AFTER:-build/bin/lrpflow}
COUNT=${COUNT:-200}
OUT=${OUT:-build/bench_stages}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-1}
ISOLATE=${ISOLATE:-0}

runs="before after"
[ "$ISOLATE" = 1 ] && runs="before after after-no-direct-onednn"
for round in $(seq "$ROUNDS"); do
  for run in $runs; do
    binary=$BEFORE
    [ "$run" != before ] && binary=$AFTER
    no_direct=0
    [ "$run" = after-no-direct-onednn ] && no_direct=1
    rm -rf "${OUT:?}/$run"
    start=$(date +%s.%N)
    LRPFLOW_NO_DIRECT_ONEDNN=$no_direct "$binary" -q run pipelines/quickstart.yaml --out "$OUT/$run" --threads "$THREADS" \
      --set stages.load.options.count="$COUNT" --set output.report=false
    end=$(date +%s.%N)
    echo "== round $round: $run ($binary), $COUNT items, $THREADS threads, $(python3 -c "print(f'{$end - $start:.1f}')") s wall, load average $(cut -d' ' -f1-3 /proc/loadavg)"
    python3 tools/stage_table.py "$OUT/$run/manifest.json" heatmap deconv fidelity paths
  done
done
