#!/usr/bin/env bash
# Install lrpflow to a temporary prefix, build examples/hello_plugin against the installed CMake
# package as a separate project, then run the installed (unchanged) lrpflow binary with that
# plugin on npy_loader -> hello_scale -> npy_writer and check the numbers it wrote.
#
# usage: install_test.sh CMAKE BUILD_DIR SOURCE_DIR GENERATOR CXX_COMPILER
set -euo pipefail

cmake_bin=$1 build_dir=$2 source_dir=$3 generator=$4 cxx=$5
work=$(mktemp -d "${TMPDIR:-/tmp}/lrpflow-install-test.XXXXXX")
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix

fail() { echo "FAIL: $*" >&2; exit 1; }

echo "== install to $prefix"
"$cmake_bin" --install "$build_dir" --prefix "$prefix" >"$work/install.log" || { cat "$work/install.log"; fail "cmake --install"; }
for f in bin/lrpflow include/lrpflow/stage.h include/lrpflow/plugin_api.h \
         lib/cmake/lrpflow/lrpflowConfig.cmake lib/cmake/lrpflow/lrpflowConfigVersion.cmake \
         lib/cmake/lrpflow/lrpflowTargets.cmake lib/cmake/lrpflow/LrpflowPlugin.cmake \
         lib/lrpflow/plugins/lrpflow_loaders.so lib/lrpflow/plugins/lrpflow_writers.so; do
  [[ -e "$prefix/$f" ]] || fail "the install lacks $f"
done
ls "$prefix"/lib/liblrpflow.so* >/dev/null 2>&1 || fail "the install lacks lib/liblrpflow.so"

echo "== build examples/hello_plugin out of tree"
# Only the install prefix is given: the example must not see the lrpflow source or build tree.
"$cmake_bin" -S "$source_dir/examples/hello_plugin" -B "$work/hello" -G "$generator" \
  -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF >"$work/configure.log" 2>&1 || { cat "$work/configure.log"; fail "configuring hello_plugin"; }
"$cmake_bin" --build "$work/hello" >"$work/build.log" 2>&1 || { cat "$work/build.log"; fail "building hello_plugin"; }
[[ -f "$work/hello/hello_plugin.so" ]] || fail "no hello_plugin.so in $work/hello"

lrpflow=("$prefix/bin/lrpflow" --plugin-path "$work/hello" --plugin-path "$prefix/lib/lrpflow/plugins")

echo "== lrpflow inspect hello_scale"
"${lrpflow[@]}" inspect hello_scale >"$work/inspect.txt" 2>&1 || { cat "$work/inspect.txt"; fail "lrpflow inspect hello_scale"; }
grep -q factor "$work/inspect.txt" || { cat "$work/inspect.txt"; fail "inspect does not show the factor option"; }

echo "== run npy_loader -> hello_scale -> npy_writer"
# A float32 .npy of shape (1, 2, 2) holding 1, 2, -0.5, 4, written byte by byte (no Python).
mkdir -p "$work/pipeline/inputs"
header="{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2, 2), }"
pad=$(( 64 - (10 + ${#header} + 1) % 64 ))
header="$header$(printf '%*s' "$pad" '')"$'\n'
header_length=${#header}
{
  printf '\x93NUMPY\x01\x00'
  printf "\\x$(printf %02x $((header_length & 255)))\\x$(printf %02x $((header_length >> 8)))"
  printf '%s' "$header"
  printf '\x00\x00\x80\x3f\x00\x00\x00\x40\x00\x00\x00\xbf\x00\x00\x80\x40'
} >"$work/pipeline/inputs/sample.npy"
cat >"$work/pipeline/pipeline.yaml" <<'YAML'
version: 1
stages:
  - id: load
    type: npy_loader
    options: {path: inputs}
  - id: scale
    type: hello_scale
    options: {slot: input, factor: 2.5}
  - id: save
    type: npy_writer
    options: {slot: input}
YAML
"${lrpflow[@]}" run "$work/pipeline/pipeline.yaml" --out "$work/out" >"$work/run.log" 2>&1 || { cat "$work/run.log"; fail "lrpflow run"; }

output=$work/out/items/sample/sample.input.npy  # pipelines write one folder per item
[[ -f "$output" ]] || { cat "$work/run.log"; ls -R "$work/out"; fail "no $output"; }
# The writer's header: 2-byte little-endian length at offset 8; the data follow it.
out_header_length=$(od -A n -t u2 -j 8 -N 2 "$output" | tr -d ' ')
values=$(od -A n -t f4 -j $((10 + out_header_length)) "$output" | xargs)
echo "output values: $values"
awk -v got="$values" 'BEGIN {
  n = split(got, v, " "); split("2.5 5 -1.25 10", want, " ");
  if (n != 4) { print "expected 4 values, got " n; exit 1 }
  for (i = 1; i <= 4; i++) if (v[i] + 0 != want[i] + 0) { print "value " i ": expected " want[i] ", got " v[i]; exit 1 }
}' || fail "wrong numbers in $output"
echo "PASS"
