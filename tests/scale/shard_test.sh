#!/bin/bash
# `--shard I/N` and `lrpflow merge` without a scheduler: four shards (two at a time, into one
# directory) merged equal a single-process run; --resume per shard; every bad input is a clear error.
# usage: shard_test.sh LRPFLOW PIPELINE
LRPFLOW="$1"
PIPELINE="$2"
source "$(dirname "$0")/common.sh"

run_single "$WORK/single"

# Four shards, two at a time writing into the same directory.
SHARDS="$WORK/shards"
for pair in "0 1" "2 3"; do
  pids=()
  for i in $pair; do
    start_job lrp run "$PIPELINE" --out "$SHARDS" --shard "$i/4" -q
    pids+=("$JOB_PID")
  done
  for pid in "${pids[@]}"; do wait "$pid" || fail "a shard run exited with $?"; done
done
for i in 0 1 2 3; do
  [ -f "$SHARDS/manifest.shard-$i-of-4.json" ] || fail "no manifest.shard-$i-of-4.json"
done
[ -e "$SHARDS/manifest.json" ] && fail "a shard wrote manifest.json"
[ -e "$SHARDS/report" ] && fail "a shard built the HTML report"
"$PY" - "$SHARDS" <<'PYEOF' || fail "shard manifests do not partition the items"
import json, sys
seen = []
for i in range(4):
    m = json.load(open(f"{sys.argv[1]}/manifest.shard-{i}-of-4.json"))
    assert m["run"]["shard"] == {"index": i, "count": 4}, m["run"]
    assert m["run"]["items_total"] == len(m["items"]) == 4, (i, m["run"]["items_total"], len(m["items"]))
    assert all(item["index"] % 4 == i for item in m["items"])
    # The default layout: each item's files in items/<id>/, whichever shard wrote them.
    for item in m["items"]:
        for paths in item["outputs"].values():
            assert all(p.startswith(f"items/{item['id']}/") for p in paths), (item["id"], paths)
    seen += [item["index"] for item in m["items"]]
assert sorted(seen) == list(range(16)), sorted(seen)
PYEOF
ls "$SHARDS"/fidelity_sweep.shard-*-of-4.csv >/dev/null 2>&1 || fail "no per-shard fidelity CSVs"

lrp merge "$SHARDS" -q || fail "merge exited with $?"
"$PY" - "$SHARDS" <<'PYEOF' || fail "the merged manifest does not keep the provenance of the shards"
import json, sys
m = json.load(open(f"{sys.argv[1]}/manifest.json"))
run_hash = m["run"]["pipeline_hash"]
assert [c["pipeline_hash"] for c in m["configurations"]] == [run_hash], m["configurations"]
assert all(item["pipeline_hash"] == run_hash for item in m["items"]), "an item of another configuration"
PYEOF
[ -f "$SHARDS/report/index.html" ] || fail "merge did not build the report"
if compare_runs "$WORK/single" "$SHARDS"; then pass "4 merged shards equal the single run"; else fail "merged shards differ from the single run"; fi

# --resume per shard: only the missing output of shard 1 is redone.
victim="$("$PY" -c 'import json,sys; m=json.load(open(sys.argv[1])); print(m["items"][0]["outputs"]["relevance"][0])' "$SHARDS/manifest.shard-1-of-4.json")"
rm "$SHARDS/$victim"
out="$(lrp run "$PIPELINE" --out "$SHARDS" --shard 1/4 --resume 2>&1)" || fail "shard resume exited with $?"
grep -qF "3 of 4 items already done" <<<"$out" && pass "resume of shard 1 redid one item" || fail "resume of shard 1: $out"
[ -f "$SHARDS/$victim" ] || fail "resume did not rewrite $victim"

# --shard auto.
expect_error "auto without scheduler variables" 2 "no scheduler variables are set" -- \
  env -u SLURM_ARRAY_TASK_ID -u OMPI_COMM_WORLD_RANK -u PMI_RANK -u JOB_COMPLETION_INDEX \
  "$LRPFLOW" run "$PIPELINE" --out "$WORK/auto" --shard auto
out="$(SLURM_ARRAY_TASK_ID=3 SLURM_ARRAY_TASK_COUNT=4 lrp run "$PIPELINE" --out "$WORK/auto" --shard auto 2>&1)" || fail "auto run: $out"
grep -qF "shard 3/4 from SLURM_ARRAY_TASK_ID" <<<"$out" && pass "auto says where I/N came from" || fail "auto log line: $out"
[ -f "$WORK/auto/manifest.shard-3-of-4.json" ] || fail "auto: no manifest.shard-3-of-4.json"

# Malformed --shard values.
expect_error "--shard 3/2" 2 "shard index 3 is outside 0..1" -- "$LRPFLOW" run "$PIPELINE" --out "$WORK/bad" --shard 3/2
expect_error "--shard -1/4" 2 "--shard -1/4" -- "$LRPFLOW" run "$PIPELINE" --out "$WORK/bad" --shard=-1/4
expect_error "--shard x/y" 2 "expected I/N" -- "$LRPFLOW" run "$PIPELINE" --out "$WORK/bad" --shard x/y
expect_error "--mpi with --shard" 2 "exclude each other" -- "$LRPFLOW" run "$PIPELINE" --out "$WORK/bad" --shard 0/2 --mpi
[ -e "$WORK/bad" ] && fail "a rejected --shard created the output directory"

# Merging incomplete or mixed sets.
copy() { rm -rf "$WORK/$1" && cp -r "$SHARDS" "$WORK/$1" && rm -f "$WORK/$1/manifest.json"; }
copy missing && rm "$WORK/missing/manifest.shard-2-of-4.json"
expect_error "merge with shard 2 missing" 2 "shard 2/4 is missing" -- "$LRPFLOW" merge "$WORK/missing"
[ -e "$WORK/missing/manifest.json" ] && fail "a refused merge wrote manifest.json"
copy running && sed -i 's/"state": "complete"/"state": "running"/' "$WORK/running/manifest.shard-1-of-4.json"
expect_error "merge with shard 1 running" 2 "shard 1/4 is not complete" -- "$LRPFLOW" merge "$WORK/running"
copy mixed && lrp run "$PIPELINE" --out "$WORK/mixed" --shard 3/4 --set stages.fidelity.options.sweep=false -q
expect_error "merge of shards from two pipelines" 2 "come from different pipelines" -- "$LRPFLOW" merge "$WORK/mixed"
copy counts && cp "$SHARDS/manifest.shard-0-of-4.json" "$WORK/counts/manifest.shard-0-of-2.json"
expect_error "merge of shards of two shard counts" 2 "different shard counts (2, 4)" -- "$LRPFLOW" merge "$WORK/counts"
lrp merge "$WORK/counts" --count 4 -q && pass "merge --count picks one set" || fail "merge --count 4 exited with $?"
expect_error "merge of an empty directory" 2 "holds no shard manifests" -- "$LRPFLOW" merge "$WORK/single/report"

# `explain --shard`: two shards of six .npy inputs through the tiny fixture CNN, then merge.
TINY="$HERE/../fixtures/lrp/tiny_cnn/model_scripted.pt"
mkdir -p "$WORK/npy"
"$PY" -c 'import numpy as np, sys
rng = np.random.default_rng(0)
for i in range(6): np.save(f"{sys.argv[1]}/x{i}.npy", rng.standard_normal((3, 32, 32)).astype(np.float32))' "$WORK/npy"
for i in 0 1; do
  lrp explain "$TINY" "$WORK"/npy/x*.npy --rules epsilon --input-shape 3,32,32 --out "$WORK/explain" --shard "$i/2" -q \
    || fail "explain --shard $i/2 exited with $?"
done
lrp merge "$WORK/explain" -q || fail "merge of the explain shards exited with $?"
"$PY" - "$WORK/explain" <<'PYEOF' && pass "explain --shard: 2 shards merged, 6 relevance files" || fail "explain shards"
import json, os, sys
m = json.load(open(os.path.join(sys.argv[1], "manifest.json")))
assert [i["index"] for i in m["items"]] == list(range(6)), m["items"]
assert all(i["status"] == "ok" for i in m["items"])
for i in m["items"]:
    for path in i["outputs"]["relevance"]:
        assert os.path.exists(os.path.join(sys.argv[1], path)), path
PYEOF

# A second process of the same shard is refused while the first holds the lock.
start_job flock "$SHARDS/.lock.shard-0-of-4" sleep 60
holder=$JOB_PID
sleep 0.5
expect_error "same shard twice at once" 2 "already running shard 0/4" -- "$LRPFLOW" run "$PIPELINE" --out "$SHARDS" --shard 0/4
stop_job "$holder"
finish
