# Test scripts leave no process behind. Sourced by a test script (bash), it
#   * exports LRPFLOW_TEST_MARKER, a value unique to this run of the script: every program the
#     script starts inherits it in its environment (/proc/PID/environ), also daemons that leave the
#     script's process group or session (mpirun's helpers, Slurm's job steps, Chromium's zygotes);
#   * offers start_job CMD... (a background job in a process group of its own, so that stop_job
#     stops it with every child it forked: `flock FILE sleep 120` is two processes), stop_job PID
#     and stop_started_jobs;
#   * offers check_no_processes_left: run it last on every exit path (e.g. from the EXIT trap, after
#     the script's own cleanup); it waits up to 5 s for stragglers, then kills whatever still
#     carries the marker, lists it and returns 1 (the test fails).
# Run as a command, `bash processes.sh MARKER` lists the processes carrying MARKER (one
# "PID COMMAND LINE" a line): the same check for test drivers in other languages.
#
# Zombies are not listed: their environment is gone and they hold no pipe open.

# processes_carrying MARKER: the live processes whose environment holds LRPFLOW_TEST_MARKER=MARKER,
# except this shell (and the subshell that runs the function).
processes_carrying() {
  local wanted="LRPFLOW_TEST_MARKER=$1" dir pid entry command
  for dir in /proc/[0-9]*; do
    pid="${dir#/proc/}"
    [[ "$pid" == "$$" || "$pid" == "$BASHPID" ]] && continue
    {
      while IFS= read -r -d '' entry; do
        [[ "$entry" == "$wanted" ]] || continue
        command="$(tr '\0' ' ' <"$dir/cmdline")" || true
        echo "$pid ${command:-?}"
        break
      done <"$dir/environ"
    } 2>/dev/null || true  # the process may end while we look
  done
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  [[ $# -eq 1 && -n "$1" ]] || { echo "usage: bash processes.sh MARKER" >&2; exit 2; }
  processes_carrying "$1"
  exit 0
fi

LRPFLOW_TEST_MARKER="lrpflow-test-$$-$(date +%s%N)"
export LRPFLOW_TEST_MARKER

# start_job CMD...: runs CMD in the background in a process group of its own; its pid (which is
# also the group's id) is in JOB_PID and is added to STARTED_JOBS. CMD may be a shell function.
STARTED_JOBS=()
start_job() {
  local had_job_control="${-//[^m]/}"
  set -m
  "$@" &
  JOB_PID=$!
  [[ -n "$had_job_control" ]] || set +m
  STARTED_JOBS+=("$JOB_PID")
}

# process_alive PID: the process exists and is not a zombie.
process_alive() {
  local stat
  read -r stat 2>/dev/null <"/proc/$1/stat" || return 1
  stat="${stat##*) }"
  [[ "${stat:0:1}" != Z ]]
}

# stop_job PID (a JOB_PID of start_job): TERM to the job's process group, KILL to what is left of
# it after 5 s, and the job reaped. A job that has already ended is fine.
stop_job() {
  local pid="$1" _
  kill -TERM -- "-$pid" 2>/dev/null || true
  for _ in $(seq 50); do
    process_alive "$pid" || break
    sleep 0.1
  done
  kill -KILL -- "-$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  return 0
}

# stop_started_jobs: stop_job for every job start_job started (the ones still running).
stop_started_jobs() {
  local pid
  for pid in "${STARTED_JOBS[@]}"; do stop_job "$pid"; done
  STARTED_JOBS=()
}

check_no_processes_left() {
  local left _
  for _ in $(seq 50); do
    left="$(processes_carrying "$LRPFLOW_TEST_MARKER")"
    [[ -z "$left" ]] && return 0
    sleep 0.1
  done
  echo "FAIL: the test left these processes running (now killed):" >&2
  echo "$left" >&2
  kill -KILL $(cut -d' ' -f1 <<<"$left") 2>/dev/null || true
  return 1
}
