#!/usr/bin/env bash
# The sanitizer part of CI (tools/test.sh), after the Release build and its tests:
#
# 1. tools/sanitize.sh: builds everything (library, binary, plugins, every test, the fuzz
#    harnesses) under ASan+UBSan with clang in build-asan/, and runs the whole test suite there, two
#    tests at a time, except what cannot run instrumented (scale.* and
#    install_and_out_of_tree_plugin; tools/sanitize.sh says why). Any sanitizer report fails its test.
# 2. tools/fuzz.sh: each of the nine libFuzzer harnesses for FUZZ_CI_SECONDS (default 10) with a
#    fixed seed. A crash, leak, hang or out-of-memory input fails CI; the input is copied to
#    tests/fuzz/regressions/<harness>/ and printed in base64 in the log.
#
# From an empty build-asan/, without a compiler cache, on the 2-core CI machine while another
# engineer's builds took half of it (2026-12-07): build 921 s (949 s of CPU), tests 574 s (680 s
# of CPU, 401 tests), fuzzing 113 s; on an idle machine about 8 + 6 + 2 minutes, and with the
# Release build and tests about 29 minutes for all of tools/test.sh. docs/security.md ("What CI
# runs") has the commands and figures.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
jobs=$(nproc)
(( jobs > 2 )) && jobs=2  # ASan processes with LibTorch take 1-2 GB each
bash tools/sanitize.sh -j"$jobs"
FUZZ_SEED=${FUZZ_SEED:-1} bash tools/fuzz.sh "${FUZZ_CI_SECONDS:-10}"
