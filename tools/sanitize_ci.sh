#!/usr/bin/env bash
# The sanitizer part of CI (tools/test.sh): builds, under ASan+UBSan with clang (tools/sanitize.sh,
# in build-asan/), what the fuzz regressions and the framework suites need, and runs those tests:
# every parser on every input a fuzzer ever found (fuzz.*) and the runtime, pipelines, manifests,
# files, graphs of stages and the CLI (framework.*). About 5 minutes from scratch on two cores;
# `tools/sanitize.sh` alone runs every suite.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
targets="lrpflow_cli test_framework"
for harness in pipeline ruleset sidecar npy idx image manifest shard_manifest torchscript; do
  targets+=" fuzz_replay_$harness"
done
# The plugins the harnesses and the framework tests load.
for plugin in baselines faithfulness loaders lrp_rules lrp_stages selection visual writers; do
  targets+=" lrpflow_$plugin"
done
for plugin in stages wrong_version not_a_plugin missing_symbol null_entry exits_on_load; do
  targets+=" framework_test_$plugin"
done
SANITIZE_TARGETS="$targets" bash tools/sanitize.sh -j"$(nproc)" -L '^(fuzz|framework)$'
