#!/usr/bin/env bash
# Install the Debian packages, build everything (library, binary, plugins, tests), run all tests,
# then the fuzz regressions and the framework suites again under ASan+UBSan (tools/sanitize_ci.sh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash tools/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$(nproc)"
ctest --test-dir build --output-on-failure -j"$(nproc)"
bash tools/sanitize_ci.sh
