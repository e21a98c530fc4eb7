#!/usr/bin/env bash
# Install the Debian packages, build everything (library, binary, plugins, tests) in build/ and run
# all tests, then build everything again under ASan+UBSan in build-asan/, run the test suite there
# (all but scale.* and install_and_out_of_tree_plugin) and each fuzz harness for 10 s
# (tools/sanitize_ci.sh). CI runs this (.ci/run); the time it takes from empty build folders on the
# 2-core CI machine is in docs/security.md ("What CI runs").
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash tools/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$(nproc)"
ctest --test-dir build --output-on-failure -j"$(nproc)"
bash tools/sanitize_ci.sh
