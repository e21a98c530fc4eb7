#!/bin/bash
# kill -9 at ten moments of one 200-item run (the quickstart pipeline: every per-item writer and a
# run-level CSV and plot), resuming after each: every checkpoint left behind is a valid manifest,
# and after the last resume no temporary file or item log remains and every output and run-level
# file equals a clean run's, byte for byte.
# usage: crash_test.sh LRPFLOW QUICKSTART_PIPELINE
LRPFLOW="$1"
PIPELINE="$2"
source "$(dirname "$0")/common.sh"

ARGS=(--set output.report=false --threads 2 -q)
lrp run "$PIPELINE" --out "$WORK/clean" "${ARGS[@]}" || { echo "FAIL: the clean run failed" >&2; exit 1; }

# The items a run has recorded so far: the lines of its item log (carried items included).
recorded() { cat "$1"/manifest.items.*.jsonl 2>/dev/null | wc -l; }

CRASH="$WORK/crash"
# Moments: during start-up (model loading, before the first item), then after 10, 30, ..., 170
# recorded items, and once all 200 are recorded (close() and the final manifest under way).
MOMENTS=(start 10 30 50 70 90 120 150 170 200)
resume=()
for moment in "${MOMENTS[@]}"; do
  start_job "$LRPFLOW" run "$PIPELINE" --out "$CRASH" "${ARGS[@]}" "${resume[@]}"
  pid="$JOB_PID"
  if [ "$moment" = start ]; then
    sleep 0.3
  else
    for _ in $(seq 1 3000); do
      [ "$(recorded "$CRASH")" -ge "$moment" ] && break
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.01
    done
  fi
  kill -9 "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  resume=(--resume)
  [ -f "$CRASH/manifest.json" ] || continue  # killed before the first checkpoint
  "$PY" - "$CRASH" <<'PYEOF' || fail "after the kill at $moment: the manifest left behind is not valid"
import json, os, sys
out = sys.argv[1]
m = json.load(open(os.path.join(out, "manifest.json")))
assert m["format"] == 1 and m["run"]["items_total"] == 200, m["run"]
if "items_log" in m:  # a checkpoint: its log holds at least what it counts, in whole lines
    log = os.path.join(out, m["items_log"]["path"])
    data = open(log, "rb").read()[: m["items_log"]["bytes"]]
    assert len(data) == m["items_log"]["bytes"] and (not data or data.endswith(b"\n")), log
    items = [json.loads(line) for line in data.splitlines()]
else:
    items = m["items"]
for item in items:  # every file an item recorded as ok is there
    if item["status"] == "ok":
        for paths in item["outputs"].values():
            for p in paths:
                assert os.path.isfile(os.path.join(out, p)) and os.path.getsize(os.path.join(out, p)) > 0, p
PYEOF
  pass "kill -9 at $moment: the manifest left behind is valid ($(recorded "$CRASH") items in its log)"
done

lrp run "$PIPELINE" --out "$CRASH" "${ARGS[@]}" --resume || fail "the last resume exited with $?"

"$PY" - "$WORK/clean" "$CRASH" <<'PYEOF' || fail "the resumed run differs from the clean run"
import filecmp, json, os, sys
clean, crash = sys.argv[1], sys.argv[2]
m = json.load(open(os.path.join(crash, "manifest.json")))
assert m["run"]["state"] == "complete" and "items_log" not in m, m["run"]
assert len(m["items"]) == 200 and all(i["status"] == "ok" for i in m["items"]), len(m["items"])
def files(root):
    found = set()
    for d, _, names in os.walk(root):
        found |= {os.path.relpath(os.path.join(d, n), root) for n in names}
    return found
left = sorted(p for p in files(crash) if ".tmp-" in p or p.endswith(".jsonl") or os.path.basename(p).startswith(".lock"))
assert not left, f"left behind: {left[:5]}"
a, b = files(clean) - {"manifest.json"}, files(crash) - {"manifest.json"}
assert a == b, f"only in the clean run: {sorted(a - b)[:5]}; only in the resumed one: {sorted(b - a)[:5]}"
different = [p for p in sorted(a) if not filecmp.cmp(os.path.join(clean, p), os.path.join(crash, p), shallow=False)]
assert not different, f"{len(different)} files differ, e.g. {different[:5]}"
print(f"{len(a)} files equal byte for byte")
PYEOF
pass "after ten kills and resumes: outputs and run-level files equal the clean run's"
finish
