#!/usr/bin/env bash
# Benchmark: per-item latency of the quickstart as a chain and as a graph whose heatmap and deconv
# stages are concurrent branches after fidelity (--set stages.{heatmap,deconv}.inputs=[fidelity]),
# alternating for ROUNDS rounds in one invocation so that both see the same machine load. One item
# in flight (--max-in-flight 1), so that the wall time per item is one item's latency and any gain
# comes from the branches overlapping, not from items overlapping. See docs/performance.md.
#
#   tools/bench_graph.sh                                   # 200 items, 2 threads, 3 rounds
#   COUNT=100 ROUNDS=5 OUT=/dev/shm/bench_graph tools/bench_graph.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
LRPFLOW=${LRPFLOW:-build/bin/lrpflow}
COUNT=${COUNT:-200}
OUT=${OUT:-/dev/shm/lrpflow_bench_graph}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-3}

declare -A total=([chain]=0 [graph]=0)
for round in $(seq "$ROUNDS"); do
  for mode in chain graph; do
    extra=()
    [ "$mode" = graph ] && extra=(--set 'stages.heatmap.inputs=[fidelity]' --set 'stages.deconv.inputs=[fidelity]')
    rm -rf "${OUT:?}/$mode"
    start=$(date +%s.%N)
    "$LRPFLOW" -q run pipelines/quickstart.yaml --out "$OUT/$mode" --threads "$THREADS" --max-in-flight 1 \
      --set stages.load.options.count="$COUNT" --set output.report=false "${extra[@]}"
    end=$(date +%s.%N)
    ms=$(python3 -c "print(f'{($end - $start) * 1000 / $COUNT:.1f}')")
    total[$mode]=$(python3 -c "print(${total[$mode]} + $ms)")
    echo "round $round: $mode: $ms ms per item ($COUNT items, $THREADS threads, load average $(cut -d' ' -f1-3 /proc/loadavg))"
  done
done
python3 -c "c = ${total[chain]} / $ROUNDS; g = ${total[graph]} / $ROUNDS; print(f'mean: chain {c:.1f} ms, graph {g:.1f} ms per item; chain / graph = {c / g:.2f}')"
