#!/bin/bash
# `mpirun -np 2 lrpflow run --mpi`: each rank runs one shard, rank 0 merges; the result must equal a
# single-process run. Then a rank whose run cannot start (its shard lock is held) must have its
# items recorded as errors "rank 1 failed: ..." in the merged manifest, not lost.
# usage: mpi_test.sh LRPFLOW PIPELINE
LRPFLOW="$1"
PIPELINE="$2"
source "$(dirname "$0")/common.sh"
command -v mpirun >/dev/null || { echo "SKIP: mpirun is not installed"; exit 77; }
MPIRUN=(timeout 300 mpirun --allow-run-as-root --oversubscribe -np 2)
export OMPI_MCA_btl=self,vader  # one node: shared memory, no network probing

run_single "$WORK/single"
"${MPIRUN[@]}" "$LRPFLOW" run "$PIPELINE" --out "$WORK/mpi" --mpi -q || fail "mpirun exited with $?"
for i in 0 1; do [ -f "$WORK/mpi/manifest.shard-$i-of-2.json" ] || fail "no manifest of rank $i"; done
[ -f "$WORK/mpi/report/index.html" ] || fail "rank 0 built no report"
if compare_runs "$WORK/single" "$WORK/mpi"; then pass "mpirun -np 2 equals the single run"; else fail "mpirun result differs"; fi

# Rank 1 cannot start: another process holds its shard's lock. flock and its sleep are one job
# (process group): stopping the job stops both, so no sleep keeps ctest's output pipe open.
mkdir -p "$WORK/failing"
start_job flock "$WORK/failing/.lock.shard-1-of-2" sleep 120
holder=$JOB_PID
sleep 0.5
out="$("${MPIRUN[@]}" "$LRPFLOW" run "$PIPELINE" --out "$WORK/failing" --mpi 2>&1)"
rc=$?
stop_job "$holder"
[ "$rc" -ne 0 ] && pass "a failed rank makes mpirun exit $rc" || fail "mpirun exited 0 although rank 1 failed"
"$PY" - "$WORK/failing/manifest.json" <<'PYEOF' && pass "rank 1's items are errors in the merged manifest" || { fail "failed rank's items"; echo "$out" >&2; }
import json, sys
m = json.load(open(sys.argv[1]))
items = m["items"]
assert len(items) == 16 and m["run"]["items_total"] == 16, (len(items), m["run"]["items_total"])
bad = [i for i in items if i["status"] == "error"]
assert sorted(i["index"] for i in bad) == list(range(1, 16, 2)), [i["index"] for i in bad]
assert all(i["error"]["message"].startswith("rank 1 failed: ") for i in bad), bad[0]
assert all(i["status"] == "ok" for i in items if i["index"] % 2 == 0)
PYEOF
finish
