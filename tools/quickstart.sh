#!/usr/bin/env bash
# Quickstart: install the Debian packages, build lrpflow, run pipelines/quickstart.yaml.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash tools/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$(nproc)"
build/bin/lrpflow run pipelines/quickstart.yaml

echo
echo "Outputs are in $(pwd)/out/quickstart/ (manifest.json lists every file written)."
echo "Open the report: $(pwd)/out/quickstart/report/index.html"
