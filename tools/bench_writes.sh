#!/usr/bin/env bash
# Benchmark: the quickstart's per-stage times with one fsync per output file (LRPFLOW_SYNC=each,
# the old way) and with one flush per manifest checkpoint (the default), in one invocation so that
# both see the same machine load. Prints one table per mode and the heatmap/deconv/fidelity time
# per item relative to the LRP stage's. See docs/performance.md ("Writing outputs").
#
#   tools/bench_writes.sh                 # 200 items, build/bin/lrpflow, outputs in build/bench_writes
#   COUNT=50 LRPFLOW=/path/lrpflow OUT=/some/dir tools/bench_writes.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
LRPFLOW=${LRPFLOW:-build/bin/lrpflow}
COUNT=${COUNT:-200}
OUT=${OUT:-build/bench_writes}

for mode in each batch; do
  rm -rf "${OUT:?}/$mode"
  start=$(date +%s.%N)
  LRPFLOW_SYNC=$mode "$LRPFLOW" -q run pipelines/quickstart.yaml --out "$OUT/$mode" \
    --set stages.load.options.count="$COUNT" --set output.report=false
  end=$(date +%s.%N)
  echo "== LRPFLOW_SYNC=$mode ($( [ $mode = each ] && echo 'fsync per file' || echo 'one flush per checkpoint')), $COUNT items, $(python3 -c "print(f'{$end - $start:.1f}')") s wall"
  python3 tools/stage_table.py "$OUT/$mode/manifest.json"
done
