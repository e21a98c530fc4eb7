#!/bin/bash
# A one-node Slurm cluster (Debian's slurmctld, slurmd, munge) in a temporary directory runs a
# 4-task array job of `lrpflow run --shard auto`, then `lrpflow merge` as a job with
# --dependency=afterok; the merged run must equal a single-process run. The daemons are children
# of this script with their own ports, munge socket and state directory, and are stopped on every
# exit path; every wait has a time limit. Needs root (SlurmUser=root); exit 77 (skipped) otherwise.
# usage: slurm_test.sh LRPFLOW PIPELINE
LRPFLOW="$1"
PIPELINE="$2"
source "$(dirname "$0")/common.sh"

for tool in slurmctld slurmd munged sbatch squeue scontrol; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool is not installed (apt-get install slurmctld slurmd munge slurm-client)"; exit 77; }
done
[ "$(id -u)" -eq 0 ] || { echo "SKIP: the test cluster runs as root (SlurmUser=root)"; exit 77; }

S="$WORK/slurm"
mkdir -p "$S/state" "$S/spool" "$S/munge"
# munge: its own key and socket; munged runs as the munge user and wants its directories to itself.
mungekey --create --keyfile="$S/munge/munge.key" 2>/dev/null || dd if=/dev/urandom of="$S/munge/munge.key" bs=1 count=1024 2>/dev/null
chown -R munge:munge "$S/munge"
chmod 755 "$S/munge"  # munged wants its socket directory reachable by all
chmod 400 "$S/munge/munge.key"
mkdir -p /run/munge && chown munge:munge /run/munge
chmod 755 "$WORK"
MUNGE_SOCKET="$S/munge/munge.socket"
start_job runuser -u munge -- munged --foreground --key-file="$S/munge/munge.key" --socket="$MUNGE_SOCKET" \
  --pid-file="$S/munge/munged.pid" --log-file="$S/munge/munged.log" --seed-file="$S/munge/seed" >"$S/munged.out" 2>&1
MUNGED_PID=$JOB_PID
# munged itself (its pid file), then runuser's job, so that no defunct munged is left behind.
CLEANUP_HOOKS+=("kill \$(cat '$S/munge/munged.pid' 2>/dev/null) 2>/dev/null; sleep 0.5; stop_job $MUNGED_PID")

# Ports of our own, so that the test does not meet another Slurm on this machine.
BASE_PORT=$((20000 + RANDOM % 20000))
cat >"$S/slurm.conf" <<CONF
ClusterName=lrpflowtest
SlurmctldHost=localhost
SlurmctldPort=$BASE_PORT
SlurmdPort=$((BASE_PORT + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE_SOCKET
StateSaveLocation=$S/state
SlurmdSpoolDir=$S/spool
SlurmctldPidFile=$S/slurmctld.pid
SlurmdPidFile=$S/slurmd.pid
SlurmctldLogFile=$S/slurmctld.log
SlurmdLogFile=$S/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=30
NodeName=localhost CPUs=$(nproc) State=UNKNOWN
PartitionName=test Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$S/slurm.conf"

for _ in $(seq 50); do [ -S "$MUNGE_SOCKET" ] && break; sleep 0.2; done
[ -S "$MUNGE_SOCKET" ] || { cat "$S/munge/munged.log" >&2; echo "FAIL: munged did not start" >&2; exit 1; }

start_job slurmctld -D -i -f "$SLURM_CONF" >"$S/slurmctld.out" 2>&1
CTLD_PID=$JOB_PID
CLEANUP_HOOKS+=("stop_job $CTLD_PID")
start_job slurmd -D -N localhost -f "$SLURM_CONF" >"$S/slurmd.out" 2>&1
SLURMD_PID=$JOB_PID
# slurmd first (it runs the jobs' steps), so that no job is left running when slurmctld goes.
CLEANUP_HOOKS=("scancel --user=root 2>/dev/null" "stop_job $SLURMD_PID" "${CLEANUP_HOOKS[@]}")

show_logs() { tail -n 30 "$S"/slurmctld.log "$S"/slurmd.log "$S"/*.out 2>/dev/null >&2; }
ready=0
for _ in $(seq 120); do
  if sinfo -h -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then ready=1; break; fi
  sleep 0.5
done
[ "$ready" -eq 1 ] || { show_logs; echo "FAIL: the Slurm node did not come up within 60 s" >&2; exit 1; }
pass "Slurm cluster up: $(sinfo -h -o '%P %T %c CPUs')"

run_single "$WORK/single"

OUT="$WORK/sharded"
ARRAY_JOB=$(sbatch --parsable --array=0-3 --chdir="$WORK" --output="$S/shard-%a.out" --job-name=lrpflow-shards \
  --wrap="exec $LRPFLOW run $PIPELINE --out $OUT --shard auto") || { show_logs; echo "FAIL: sbatch of the array" >&2; exit 1; }
MERGE_JOB=$(sbatch --parsable --dependency=afterok:"$ARRAY_JOB" --kill-on-invalid-dep=yes --chdir="$WORK" \
  --output="$S/merge.out" --job-name=lrpflow-merge --wrap="exec $LRPFLOW merge $OUT") \
  || { show_logs; echo "FAIL: sbatch of the merge job" >&2; exit 1; }
pass "submitted array job $ARRAY_JOB and merge job $MERGE_JOB"

# No accounting, so no sacct: wait until squeue no longer lists the jobs.
# A failing squeue (slurmctld busy) is not "no jobs": retry until the deadline.
deadline=$((SECONDS + 400))
while :; do
  if [ "$SECONDS" -gt "$deadline" ]; then
    squeue >&2; show_logs; echo "FAIL: jobs still queued after 400 s" >&2; exit 1
  fi
  if queued="$(squeue -h -o '%i %T' 2>/dev/null)" && [ -z "$queued" ]; then break; fi
  sleep 1
done

for i in 0 1 2 3; do
  grep -qF "shard $i/4 from SLURM_ARRAY_TASK_ID" "$S/shard-$i.out" && pass "array task $i ran shard $i/4" \
    || { fail "array task $i:"; cat "$S/shard-$i.out" >&2; }
done
[ -f "$OUT/manifest.json" ] || { fail "the merge job wrote no manifest.json"; cat "$S/merge.out" >&2; show_logs; }
[ -f "$OUT/report/index.html" ] || fail "the merge job built no report"
if [ -f "$OUT/manifest.json" ]; then
  if compare_runs "$WORK/single" "$OUT"; then pass "Slurm array + merge equals the single run"; else fail "Slurm result differs"; fi
fi
finish
