# shellcheck shell=bash
# Sourced by tools/sanitize.sh and tools/fuzz.sh: sanitizer options for every process the tests
# start. Every report stops the process with a non-zero exit (halt_on_error), so the test fails.
_lrpflow_tools=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# detect_odr_violation=0: LibTorch's and OpenCV's Debian builds link some libraries twice (e.g.
# protobuf through both), which ASan reports as ODR violations in code that is not ours.
export ASAN_OPTIONS="halt_on_error=1:abort_on_error=0:detect_leaks=1:detect_odr_violation=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:suppressions=$_lrpflow_tools/ubsan.supp${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
export LSAN_OPTIONS="suppressions=$_lrpflow_tools/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
export ASAN_SYMBOLIZER_PATH=${ASAN_SYMBOLIZER_PATH:-$(command -v llvm-symbolizer-14 || command -v llvm-symbolizer || true)}
unset _lrpflow_tools
