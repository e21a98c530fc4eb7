#!/usr/bin/env bash
# Builds the whole project (library, binary, plugins, tests, fuzz harnesses) with clang under
# AddressSanitizer + UndefinedBehaviorSanitizer in build-asan/ (never touching build/), then runs
# the test suite there. Any sanitizer report fails the test that triggered it.
#
#   tools/sanitize.sh                 # build, then every test except the excluded ones below
#   tools/sanitize.sh -L framework    # extra arguments go to ctest (-R REGEX, -L LABEL, ...)
#   SANITIZE_BUILD_ONLY=1 SANITIZE_TARGETS="fuzz_npy ..." tools/sanitize.sh   # only build these
#                                                              (tools/fuzz.sh does this)
#
# The same folder serves tools/fuzz.sh: LRPFLOW_BUILD_FUZZERS adds the libFuzzer harnesses and
# coverage instrumentation of the code they exercise (cmake/Sanitizers.cmake). CI runs this script
# on everything (tools/sanitize_ci.sh). LibTorch, oneTBB and the other Debian libraries are not
# instrumented: ASan sees their heap use through its malloc, not their stray reads and writes.
# docs/security.md ("Fuzzing and sanitizers") says what this covers.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

build=${SANITIZE_BUILD_DIR:-build-asan}
cxx=${SANITIZE_CXX:-clang++-14}
launcher=()
if command -v ccache > /dev/null; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  # ccache caches precompiled-header builds only with these.
  export CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
fi
# lld links the instrumented programs in a fraction of GNU ld's time.
linker=()
if echo 'int main() {}' | "$cxx" -x c++ - -fuse-ld=lld -o /dev/null 2> /dev/null; then
  linker=(-DCMAKE_EXE_LINKER_FLAGS=-fuse-ld=lld -DCMAKE_SHARED_LINKER_FLAGS=-fuse-ld=lld
          -DCMAKE_MODULE_LINKER_FLAGS=-fuse-ld=lld)
fi
# -O1: what the sanitizers' documentation recommends (readable traces, tolerable speed); line
# tables only (cmake/Sanitizers.cmake), no full debug info. Precompiled headers stay on (the
# default). The benchmarks are left out: no test runs them.
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 \
  -DCMAKE_CXX_COMPILER="$cxx" "${launcher[@]}" "${linker[@]}" -DLRPFLOW_BUILD_BENCHMARKS=OFF \
  -DLRPFLOW_SANITIZE=address,undefined -DLRPFLOW_BUILD_FUZZERS=ON > /dev/null
# shellcheck disable=SC2086  # a list of targets
cmake --build "$build" -j"$(nproc)" ${SANITIZE_TARGETS:+--target $SANITIZE_TARGETS}
[[ -n ${SANITIZE_BUILD_ONLY:-} ]] && exit 0

source tools/sanitizer_env.sh

# Not run under the sanitizers:
# - scale.*: start several lrpflow processes (Slurm, MPI, shards) at once; they use global
#   resources and are too slow instrumented. Their code paths (sharding, merge) run in framework.*.
# - install_and_out_of_tree_plugin: builds examples/ as a separate CMake project with plain flags
#   against the installed, instrumented library, which cannot link without the sanitizer runtime.
excluded='^(scale\.|install_and_out_of_tree_plugin$)'
ctest --test-dir "$build" --output-on-failure -E "$excluded" "$@"
