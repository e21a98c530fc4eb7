# Sanitizer and fuzzing builds (tools/sanitize.sh, tools/fuzz.sh, docs/security.md).
#
# LRPFLOW_SANITIZE: a -fsanitize= list such as "address,undefined" or "thread", applied to every
# target of the project (library, binary, plugins, tests). Empty (the default): a normal build.
# LRPFLOW_BUILD_FUZZERS: also builds the libFuzzer harnesses of tests/fuzz (clang only). The code
# the harnesses exercise -- the framework libraries, the shipped plugins and the harnesses -- gets
# coverage instrumentation (-fsanitize=fuzzer-no-link, through LRPFLOW_FUZZ_COVERAGE_FLAGS) so that
# the fuzzers see its branches; the tests, the CLI and the benchmarks do not (no harness runs them,
# and the instrumentation made every one of their translation units slower to compile). The same
# folder still runs the normal test suite.
set(LRPFLOW_SANITIZE "" CACHE STRING "Sanitizers for every target, e.g. address,undefined (empty: none)")
option(LRPFLOW_BUILD_FUZZERS "Build the libFuzzer harnesses of tests/fuzz (needs clang)" OFF)
set(LRPFLOW_FUZZ_COVERAGE_FLAGS "")
set(LRPFLOW_SANITIZE_TEST_FLAGS "")

if(LRPFLOW_SANITIZE)
  # Frame pointers and line tables: readable stack traces at a fraction of full debug info's size
  # (LibTorch's headers make full -g objects huge). Every UBSan report is an error, not a warning.
  set(LRPFLOW_SANITIZE_FLAGS -fsanitize=${LRPFLOW_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  if(CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    list(APPEND LRPFLOW_SANITIZE_FLAGS -gline-tables-only)
  else()
    list(APPEND LRPFLOW_SANITIZE_FLAGS -g1)
  endif()
  add_compile_options(${LRPFLOW_SANITIZE_FLAGS})
  # The test programs (tests/CMakeLists.txt) at -O0: the code they test -- libraries, plugins, the
  # CLI -- keeps the build type's level (-O1 in tools/sanitize.sh), while the tests' own code, mostly
  # GoogleTest macros, does no work worth optimising. This cut the instrumented compile of a test
  # file by about 40% (stage_chain_test.cpp: 15.7 s of CPU at -O1, 9.6 s at -O0, clang 14).
  set(LRPFLOW_SANITIZE_TEST_FLAGS -O0)
  add_link_options(-fsanitize=${LRPFLOW_SANITIZE})
  message(STATUS "lrpflow: sanitizers ${LRPFLOW_SANITIZE}")
endif()

if(LRPFLOW_BUILD_FUZZERS)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "lrpflow: LRPFLOW_BUILD_FUZZERS needs clang (libFuzzer), e.g. -DCMAKE_CXX_COMPILER=clang++-14")
  endif()
  set(LRPFLOW_FUZZ_COVERAGE_FLAGS -fsanitize=fuzzer-no-link)
  message(STATUS "lrpflow: libFuzzer harnesses enabled")
endif()
