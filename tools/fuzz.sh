#!/usr/bin/env bash
# Runs every libFuzzer harness of tests/fuzz for SECONDS each (docs/security.md, "Fuzzing and
# sanitizers"):
#
#   tools/fuzz.sh 60                  # every harness, 60 s each
#   tools/fuzz.sh 600 npy idx         # only these harnesses
#
# Builds the harnesses in the sanitizer folder (build-asan/, shared with tools/sanitize.sh: clang,
# ASan + UBSan, coverage). Each harness starts from tests/fuzz/corpus/<name> and
# tests/fuzz/regressions/<name>; what it learns is kept in build-asan/fuzz-work/<name> for the next
# run (never in the source tree). Every crash, leak, timeout or out-of-memory input is copied to
# tests/fuzz/regressions/<name>/, where ctest's fuzz.<name> replays it in every build: commit it
# with the fix. Exit status 1 when any harness found something.
#
#   FUZZ_SEED=1 tools/fuzz.sh 10      # libFuzzer's -seed (default: a random one per run)
#
# CI (tools/sanitize_ci.sh) runs every harness for a few seconds with a fixed seed; it prints each
# input it found in base64 too, since a CI machine's checkout does not outlive the run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ $# -lt 1 || ! $1 =~ ^[0-9]+$ ]]; then
  echo "usage: tools/fuzz.sh SECONDS [HARNESS...]" >&2
  exit 2
fi
seconds=$1
shift
harnesses=("$@")
if [[ ${#harnesses[@]} -eq 0 ]]; then
  for file in tests/fuzz/*_fuzz.cpp; do
    name=$(basename "$file" _fuzz.cpp)
    harnesses+=("$name")
  done
fi

build=${SANITIZE_BUILD_DIR:-build-asan}
targets=""
for name in "${harnesses[@]}"; do targets+=" fuzz_$name"; done
SANITIZE_BUILD_ONLY=1 SANITIZE_TARGETS="$targets" SANITIZE_BUILD_DIR="$build" bash tools/sanitize.sh
source tools/sanitizer_env.sh

found=()
for name in "${harnesses[@]}"; do
  work="$build/fuzz-work/$name"
  artifacts="$build/fuzz-artifacts/$name"
  rm -rf "$artifacts"
  mkdir -p "$work" "$artifacts"
  seeds=("tests/fuzz/corpus/$name")
  [[ -d tests/fuzz/regressions/$name ]] && seeds+=("tests/fuzz/regressions/$name")
  echo "== fuzz_$name: $seconds s"
  # -rss_limit_mb: LibTorch alone maps about 1 GB. -timeout: one input taking longer is a hang.
  # `timeout`: a backstop should the process hang outside libFuzzer's watch (start-up, exit).
  # The log of every run stays in $artifacts/log; the summary lines are shown.
  status=0
  seed=()
  [[ -n ${FUZZ_SEED:-} ]] && seed=(-seed="$FUZZ_SEED")
  timeout --signal=KILL $((seconds + 300)) "$build/bin/fuzz/fuzz_$name" "$work" "${seeds[@]}" -max_total_time="$seconds" -timeout=30 -rss_limit_mb=4096 \
    "${seed[@]}" -artifact_prefix="$artifacts/" -print_final_stats=1 > "$artifacts/log" 2>&1 || status=$?
  grep -E '^(#[0-9]+.*DONE|stat::number_of_executed_units|==[0-9]+==ERROR|SUMMARY|.*Test unit written)' "$artifacts/log" || true
  shopt -s nullglob
  crashes=("$artifacts"/crash-* "$artifacts"/leak-* "$artifacts"/timeout-* "$artifacts"/oom-* "$artifacts"/slow-unit-*)
  shopt -u nullglob
  if [[ $status -ne 0 || ${#crashes[@]} -gt 0 ]]; then
    mkdir -p "tests/fuzz/regressions/$name"
    for file in "${crashes[@]}"; do
      cp "$file" "tests/fuzz/regressions/$name/"
      if [[ $(stat -c %s "$file") -le 65536 ]]; then
        echo "fuzz_$name: $(basename "$file") in base64 (base64 -d > tests/fuzz/regressions/$name/NAME):" >&2
        base64 "$file" >&2
      fi
    done
    echo "fuzz_$name: FOUND a problem (exit $status); inputs copied to tests/fuzz/regressions/$name/, log: $artifacts/log" >&2
    found+=("$name")
  fi
done
if [[ ${#found[@]} -gt 0 ]]; then
  echo "fuzz.sh: problems found by: ${found[*]}" >&2
  exit 1
fi
echo "fuzz.sh: ${#harnesses[@]} harnesses, $seconds s each, nothing found"
