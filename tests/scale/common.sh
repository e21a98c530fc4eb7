# Shared by the scale-out test scripts: sourced, not run. Expects LRPFLOW (the binary) and
# PIPELINE (small_pipeline.yaml) to be set; makes WORK, a temporary directory removed on exit.
# On every exit path the CLEANUP_HOOKS run in order, then every job started with start_job is
# stopped, and the test fails if any process it started is still running (tests/common/processes.sh).
set -u
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/../common/processes.sh"
WORK="$(mktemp -d /tmp/lrpflow-scale-test.XXXXXX)"
CLEANUP_HOOKS=()
cleanup() {
  local rc=$? hook
  for hook in "${CLEANUP_HOOKS[@]}"; do eval "$hook" || true; done
  stop_started_jobs
  check_no_processes_left || rc=1
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

FAILURES=0
fail() { echo "FAIL: $*" >&2; FAILURES=$((FAILURES + 1)); }
pass() { echo "ok: $*"; }
finish() {
  if [ "$FAILURES" -gt 0 ]; then echo "$FAILURES check(s) failed" >&2; exit 1; fi
  echo "all checks passed"
  exit 0
}

# lrpflow with a time limit, so a hang fails the test instead of blocking it.
lrp() { timeout 300 "$LRPFLOW" "$@"; }

# expect_error NAME EXPECTED_EXIT PATTERN -- COMMAND...: the command fails with that exit code and
# its stderr+stdout contains PATTERN (a fixed string).
expect_error() {
  local name="$1" code="$2" pattern="$3"
  shift 4
  local out rc
  out="$("$@" 2>&1)"
  rc=$?
  if [ "$rc" -ne "$code" ]; then
    fail "$name: exit code $rc, expected $code; output: $out"
  elif ! grep -qF -- "$pattern" <<<"$out"; then
    fail "$name: output does not mention '$pattern': $out"
  else
    pass "$name: $(grep -F -- "$pattern" <<<"$out" | head -n 1)"
  fi
}

PY=/usr/bin/python3
compare_runs() { "$PY" "$HERE/compare_runs.py" "$@"; }

# A single-process run of the pipeline: the reference the sharded runs must equal.
run_single() {
  lrp run "$PIPELINE" --out "$1" -q || { echo "FAIL: the single-process run failed" >&2; exit 1; }
}
