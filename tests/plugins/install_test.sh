#!/usr/bin/env bash
# A self-contained, relocatable install, and the example plugins built against it:
#
#  1. `cmake --install` into a prefix; the prefix holds the binary, the library, the plugins, the
#     CMake package, and share/lrpflow (rule sets, model configs, pipelines, models, samples,
#     examples).
#  2. The prefix is copied elsewhere and the original removed, then the build and source trees are
#     hidden (an empty tmpfs mounted over each, in a private user + mount namespace).
#  3. With only the moved prefix left: `plugins` loads the prefix's plugins only, `rulesets` finds
#     the prefix's rule sets, `explain` runs with a named rule set on an installed model and
#     sample, `run` runs an installed pipeline; then examples/ (a stage, a rule, a selector) is
#     built from the prefix's copy as a separate project against the moved package and each
#     example runs, with its result checked.
#
# usage: install_test.sh CMAKE BUILD_DIR SOURCE_DIR GENERATOR CXX_COMPILER
set -euo pipefail

fail() { echo "FAIL: $*" >&2; exit 1; }

if [[ "${1:-}" != --hidden ]]; then
  cmake_bin=$1 build_dir=$(realpath "$2") source_dir=$(realpath "$3") generator=$4 cxx=$5
  work=$(realpath "$(mktemp -d "${TMPDIR:-/tmp}/lrpflow-install-test.XXXXXX")")
  source "$(dirname "${BASH_SOURCE[0]}")/../common/processes.sh"
  # No process the test started (builds, lrpflow, the hidden-tree namespace) may outlive it.
  trap 'status=$?; check_no_processes_left || status=1; rm -rf "$work"; exit $status' EXIT
  case "$work/" in "$build_dir/"* | "$source_dir/"*) fail "the work folder $work must lie outside the build and source trees" ;; esac

  echo "== install to $work/prefix"
  "$cmake_bin" --install "$build_dir" --prefix "$work/prefix" >"$work/install.log" || { cat "$work/install.log"; fail "cmake --install"; }
  echo "== move the prefix to $work/moved/lrpflow"
  mkdir -p "$work/moved"
  cp -a "$work/prefix" "$work/moved/lrpflow"
  rm -rf "$work/prefix"
  cp "${BASH_SOURCE[0]}" "$work/install_test.sh"

  # An empty tmpfs over each tree, visible to this test's processes only.
  # (Not exec: the EXIT trap removes the work folder afterwards.)
  if unshare --user --map-root-user --mount true 2>/dev/null; then
    unshare --user --map-root-user --mount bash -c '
      set -e
      mount -t tmpfs lrpflow-hidden-build "$2"
      if [[ -d "$3" ]]; then mount -t tmpfs lrpflow-hidden-source "$3"; fi
      exec bash "$1" --hidden "${@:2}"' _ "$work/install_test.sh" "$build_dir" "$source_dir" "$cmake_bin" "$generator" "$cxx" "$work"
    exit $?
  fi
  echo "NOTE: user namespaces are not available here: the build and source trees stay visible;"
  echo "      the checks below still require every path the binary uses to lie in the moved prefix"
  bash "$work/install_test.sh" --hidden "$build_dir" "$source_dir" "$cmake_bin" "$generator" "$cxx" "$work"
  exit $?
fi

shift
build_dir=$1 source_dir=$2 cmake_bin=$3 generator=$4 cxx=$5 work=$6
prefix=$work/moved/lrpflow
share=$prefix/share/lrpflow
cd "$work"  # the test's own folder: ctest started us inside the (now hidden) build tree
if [[ -e "$build_dir/CMakeCache.txt" ]]; then echo "NOTE: build tree visible"; else echo "== build tree $build_dir hidden"; fi
if [[ -e "$source_dir/CMakeLists.txt" ]]; then echo "NOTE: source tree visible"; else echo "== source tree $source_dir hidden"; fi

for f in bin/lrpflow include/lrpflow/stage.h include/lrpflow/plugin_api.h include/lrpflow/locations.h \
         lib/cmake/lrpflow/lrpflowConfig.cmake lib/cmake/lrpflow/lrpflowConfigVersion.cmake \
         lib/cmake/lrpflow/lrpflowTargets.cmake lib/cmake/lrpflow/LrpflowPlugin.cmake \
         lib/lrpflow/plugins/lrpflow_loaders.so lib/lrpflow/plugins/lrpflow_lrp_rules.so \
         share/lrpflow/configs/rulesets/epsilon_gamma_box.yaml share/lrpflow/configs/models/tiny_cnn.yaml \
         share/lrpflow/pipelines/quickstart.yaml share/lrpflow/models/fashion_mnist_vgg.pt \
         share/lrpflow/models/fashion_mnist_vgg.yaml share/lrpflow/examples/CMakeLists.txt; do
  [[ -e "$prefix/$f" ]] || fail "the install lacks $f"
done
ls "$prefix"/lib/liblrpflow.so* >/dev/null 2>&1 || fail "the install lacks lib/liblrpflow.so"

# Every path an output line names must lie in the moved prefix (or the test's own folders).
only_prefix_paths() {  # FILE WHAT
  if grep -E -e "$build_dir|$source_dir|$work/prefix/" "$1" >/dev/null; then
    cat "$1"; fail "$2 names the build tree, the source tree or the original prefix"
  fi
}

lrpflow=("$prefix/bin/lrpflow")

echo "== lrpflow -v plugins: only the prefix's plugins"
"${lrpflow[@]}" -v plugins >"$work/plugins.txt" 2>&1 || { cat "$work/plugins.txt"; fail "lrpflow plugins"; }
only_prefix_paths "$work/plugins.txt" "lrpflow -v plugins"
installed_plugins=$(ls "$prefix/lib/lrpflow/plugins"/*.so | wc -l)
loaded_plugins=$(grep -c "  $prefix/lib/lrpflow/plugins/.*\.so$" "$work/plugins.txt" || true)
[[ "$loaded_plugins" -eq "$installed_plugins" ]] || { cat "$work/plugins.txt"; fail "loaded $loaded_plugins plugins from the prefix, it has $installed_plugins"; }
grep -q "plugin directory: $prefix/lib/lrpflow/plugins" "$work/plugins.txt" || { cat "$work/plugins.txt"; fail "the prefix's plugin folder is not searched"; }

echo "== lrpflow rulesets: the prefix's rule sets"
"${lrpflow[@]}" rulesets >"$work/rulesets.txt" 2>&1 || { cat "$work/rulesets.txt"; fail "lrpflow rulesets"; }
only_prefix_paths "$work/rulesets.txt" "lrpflow rulesets"
for rules in "$share"/configs/rulesets/*.yaml; do
  grep -q "^  $(basename "$rules" .yaml) .* $rules$" "$work/rulesets.txt" || { cat "$work/rulesets.txt"; fail "rulesets does not list $rules"; }
done

echo "== lrpflow explain with a named rule set, on the installed model and a sample"
sample=$(ls "$share"/samples/fashion-mnist/*.png | head -n 1)
"${lrpflow[@]}" explain "$share/models/fashion_mnist_vgg.pt" "$sample" --rules epsilon_gamma_box --out "$work/explain" \
  >"$work/explain.log" 2>&1 || { cat "$work/explain.log"; fail "lrpflow explain"; }
only_prefix_paths "$work/explain.log" "lrpflow explain"

# manifest_check DIR PYTHON: runs PYTHON with `m` = DIR/manifest.json and `out` = DIR; fails on an exception.
manifest_check() {
  python3 - "$1" "$2" <<'PY' || fail "$1/manifest.json: check failed"
import json, os, sys
out = sys.argv[1]
m = json.load(open(os.path.join(out, "manifest.json")))
def outputs(item, kind):  # the manifest maps kind -> paths relative to the output folder
    return [os.path.join(out, p) for p in item.get("outputs", {}).get(kind, [])]
exec(sys.argv[2])
PY
}
manifest_check "$work/explain" '
items = m["items"]
assert len(items) == 1 and items[0]["status"] == "ok", items
relevance = outputs(items[0], "relevance")
assert relevance and all(os.path.getsize(p) > 0 for p in relevance), items[0]'

echo "== lrpflow run on the installed quickstart pipeline (3 items)"
"${lrpflow[@]}" run "$share/pipelines/quickstart.yaml" --out "$work/quickstart" --set stages.load.options.count=3 \
  >"$work/quickstart.log" 2>&1 || { cat "$work/quickstart.log"; fail "lrpflow run quickstart.yaml"; }
manifest_check "$work/quickstart" '
items = m["items"]
assert len(items) == 3 and all(i["status"] == "ok" for i in items), [(i["id"], i["status"]) for i in items]
assert os.path.isfile(os.path.join(out, "report", "index.html")), "no report"'

echo "== build examples/ (stage, rule, selector) from the prefix as one separate project"
launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
# Only the moved prefix is given: the examples must not see the lrpflow source or build tree.
"$cmake_bin" -S "$share/examples" -B "$work/examples" -G "$generator" "${launcher[@]}" \
  -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF >"$work/configure.log" 2>&1 || { cat "$work/configure.log"; fail "configuring examples/"; }
"$cmake_bin" --build "$work/examples" >"$work/build.log" 2>&1 || { cat "$work/build.log"; fail "building examples/"; }
for p in hello_plugin rule_plugin selector_plugin; do
  [[ -f "$work/examples/plugins/$p.so" ]] || fail "no $p.so in $work/examples/plugins"
done
with_examples=("${lrpflow[@]}" --plugin-path "$work/examples/plugins")
"${with_examples[@]}" plugins >"$work/plugins-examples.txt" 2>&1 || { cat "$work/plugins-examples.txt"; fail "plugins with the examples"; }
for type in hello_scale example_top_activation example_epsilon; do
  grep -q "^  $type " "$work/plugins-examples.txt" || { cat "$work/plugins-examples.txt"; fail "$type is not listed"; }
done

echo "== stage example: npy_loader -> hello_scale -> npy_writer"
"${with_examples[@]}" inspect hello_scale >"$work/inspect.txt" 2>&1 || { cat "$work/inspect.txt"; fail "lrpflow inspect hello_scale"; }
grep -q factor "$work/inspect.txt" || { cat "$work/inspect.txt"; fail "inspect does not show the factor option"; }
# A float32 .npy of shape (1, 2, 2) holding 1, 2, -0.5, 4, written byte by byte.
mkdir -p "$work/hello/inputs"
header="{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2, 2), }"
pad=$(( 64 - (10 + ${#header} + 1) % 64 ))
header="$header$(printf '%*s' "$pad" '')"$'\n'
header_length=${#header}
{
  printf '\x93NUMPY\x01\x00'
  printf "\\x$(printf %02x $((header_length & 255)))\\x$(printf %02x $((header_length >> 8)))"
  printf '%s' "$header"
  printf '\x00\x00\x80\x3f\x00\x00\x00\x40\x00\x00\x00\xbf\x00\x00\x80\x40'
} >"$work/hello/inputs/sample.npy"
cp "$share/examples/hello_plugin/pipeline.yaml" "$work/hello/pipeline.yaml"  # reads inputs/ beside it
"${with_examples[@]}" run "$work/hello/pipeline.yaml" --out "$work/hello/out" >"$work/hello.log" 2>&1 || { cat "$work/hello.log"; fail "lrpflow run (hello_plugin)"; }
# factor 2.5 (the example pipeline's) times the inputs 1, 2, -0.5, 4.
manifest_check "$work/hello/out" '
import struct
items = m["items"]
assert len(items) == 1 and items[0]["status"] == "ok", items
(path,) = outputs(items[0], "input")  # npy_writer: the kind is the slot name
data = open(path, "rb").read()
header_length = struct.unpack("<H", data[8:10])[0]
values = struct.unpack("<4f", data[10 + header_length:])
assert values == (2.5, 5.0, -1.25, 10.0), values'

echo "== rule example: example_epsilon equals the built-in epsilon rule"
# Named through LRPFLOW_RULESET_PATH, so `rulesets` must list it from there.
mkdir -p "$work/rules"
cp "$share/examples/rule_plugin/example_epsilon.yaml" "$work/rules/"
LRPFLOW_RULESET_PATH=$work/rules "${with_examples[@]}" rulesets >"$work/rulesets-example.txt" 2>&1
grep -q "^  example_epsilon .* $work/rules/example_epsilon.yaml$" "$work/rulesets-example.txt" || { cat "$work/rulesets-example.txt"; fail "rulesets does not list example_epsilon"; }
LRPFLOW_RULESET_PATH=$work/rules "${with_examples[@]}" explain "$share/models/fashion_mnist_vgg.pt" "$sample" \
  --rules example_epsilon --out "$work/rule-example" >"$work/rule-example.log" 2>&1 || { cat "$work/rule-example.log"; fail "explain with example_epsilon"; }
"${lrpflow[@]}" explain "$share/models/fashion_mnist_vgg.pt" "$sample" --rules epsilon --param epsilon.epsilon=0.25 \
  --out "$work/rule-builtin" >"$work/rule-builtin.log" 2>&1 || { cat "$work/rule-builtin.log"; fail "explain with epsilon"; }
python3 - "$work/rule-example" "$work/rule-builtin" <<'PY' || fail "example_epsilon and epsilon (0.25) differ"
import json, os, sys
def relevance(out):
    m = json.load(open(os.path.join(out, "manifest.json")))
    (item,) = m["items"]
    assert item["status"] == "ok", item
    (path,) = item["outputs"]["relevance"]
    return open(os.path.join(out, path), "rb").read()
a, b = relevance(sys.argv[1]), relevance(sys.argv[2])
assert len(a) > 128 and a == b, "relevance files differ"
PY

echo "== selector example: example_top_activation feeds critical_paths and fidelity"
"${with_examples[@]}" run "$share/examples/selector_plugin/pipeline.yaml" --out "$work/selector" \
  >"$work/selector.log" 2>&1 || { cat "$work/selector.log"; fail "lrpflow run (selector_plugin)"; }
# The pipeline keeps k = 2 neurons in each layer: every item's selection counts and graph say so.
manifest_check "$work/selector" '
items = m["items"]
assert items and all(i["status"] == "ok" for i in items), [(i["id"], i.get("error")) for i in items]
for item in items:
    counts = {k: v for k, v in item["metrics"].items() if k.startswith("selection/") and k.endswith("/count")}
    assert counts and all(v == 2 for v in counts.values()), counts
    assert any(k.startswith("fidelity/") for k in item["metrics"]), item["metrics"]
    (graph_file,) = outputs(item, "graph_json")
    graph = json.load(open(graph_file))
    assert [len(l["neurons"]) for l in graph["layers"]] == [2] * len(counts), graph["layers"]'
# k above every layer's size keeps all neurons: the path-restricted output is then the full one.
# (Two adjacent layers, so that critical_paths stays cheap: one short LRP pass per upper neuron.)
"${with_examples[@]}" run "$share/examples/selector_plugin/pipeline.yaml" --out "$work/selector-all" \
  --set stages.load.options.count=1 --set stages.select.options.k=100000 \
  --set "stages.select.options.layers=[features.10, classifier.0]" --set stages.paths.options.input_edges=false \
  >"$work/selector-all.log" 2>&1 || { cat "$work/selector-all.log"; fail "lrpflow run (selector_plugin, every neuron)"; }
manifest_check "$work/selector-all" '
(item,) = m["items"]
assert item["status"] == "ok", item
metrics = item["metrics"]
mse = metrics["fidelity/all/mse"]
assert mse is not None and mse < 1e-12, ("keeping every neuron changed the output", mse)
assert metrics["fidelity/all/kept_class"] == 1.0, metrics
assert metrics["selection/features.10/count"] == 64 and metrics["selection/classifier.0/count"] == 128, metrics'
echo "PASS"
