#!/usr/bin/env bash
# Benchmark: the quickstart's per-stage times of two lrpflow binaries, "before" (BEFORE: a build of
# the code to compare with, required) and "after" (this tree's build), in one invocation so that both
# see the same machine load. Prints each run's per-stage table and the heatmap, deconv, fidelity
# and critical_paths time per item relative to the LRP stage's. See docs/performance.md
# ("Batched passes").
#
#   BEFORE=/path/old/build/bin/lrpflow tools/bench_stages.sh       # 200 items, outputs in build/bench_stages
#   BEFORE=/path/old/lrpflow AFTER=build/bin/lrpflow COUNT=50 OUT=/some/dir tools/bench_stages.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
BEFORE=${BEFORE:?set BEFORE to the lrpflow binary to compare with (e.g. a build of an older commit)}
AFTER=${AFTER:-build/bin/lrpflow}
COUNT=${COUNT:-200}
OUT=${OUT:-build/bench_stages}

for run in before after; do
  binary=$BEFORE
  [ "$run" = after ] && binary=$AFTER
  rm -rf "${OUT:?}/$run"
  start=$(date +%s.%N)
  "$binary" -q run pipelines/quickstart.yaml --out "$OUT/$run" \
    --set stages.load.options.count="$COUNT" --set output.report=false
  end=$(date +%s.%N)
  echo "== $run ($binary), $COUNT items, $(python3 -c "print(f'{$end - $start:.1f}')") s wall, load average $(cut -d' ' -f1-3 /proc/loadavg)"
  python3 tools/stage_table.py "$OUT/$run/manifest.json" heatmap deconv fidelity paths
done
