#!/usr/bin/env bash
# The examples in docs/rulesets.md work as written: every fenced block marked
#   <!-- tested by tests/plugins/docs_examples_test.sh: NAME -->
# is saved as NAME in a folder that, like the lrpflow folder the docs speak of, holds models/;
# then the rule set is bound to the shipped model (`model-info --ruleset`) and the pipeline run.
#
# usage: docs_examples_test.sh LRPFLOW_BINARY SOURCE_DIR
set -euo pipefail

lrpflow=$1 source_dir=$2
work=$(mktemp -d "${TMPDIR:-/tmp}/lrpflow-docs-test.XXXXXX")
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

doc=$source_dir/docs/rulesets.md
# The block after each marker goes to $work/NAME.
awk -v dir="$work" '
  /<!-- tested by tests\/plugins\/docs_examples_test.sh: / { name = $0; sub(/.*: /, "", name); sub(/ -->.*/, "", name); want = 1; next }
  want && /^```/ { want = 0; file = dir "/" name; inside = 1; printf "" > file; next }
  inside && /^```/ { inside = 0; close(file); next }
  inside { print > file }
' "$doc"
for name in my_rules.yaml my_pipeline.yaml; do
  [[ -s "$work/$name" ]] || fail "$doc has no tested block $name"
done
ln -s "$source_dir/models" "$work/models"
cd "$work"

echo "== model-info --ruleset my_rules.yaml"
"$lrpflow" model-info models/fashion_mnist_vgg.pt --ruleset my_rules.yaml >model-info.txt 2>&1 || { cat model-info.txt; fail "the rule set of docs/rulesets.md does not bind"; }
cat model-info.txt
for rule in zbox gamma epsilon; do
  grep -q "$rule" model-info.txt || fail "model-info does not show the rule $rule"
done

echo "== run my_pipeline.yaml"
"$lrpflow" run my_pipeline.yaml >run.log 2>&1 || { cat run.log; fail "the pipeline of docs/rulesets.md does not run"; }
python3 - out/my_rules <<'PY' || fail "out/my_rules/manifest.json: not two ok items with a relevance file each"
import json, os, sys
out = sys.argv[1]
items = json.load(open(os.path.join(out, "manifest.json")))["items"]
assert len(items) == 2 and all(i["status"] == "ok" for i in items), items
for item in items:
    (path,) = item["outputs"]["relevance"]  # outputs: kind -> paths relative to the output folder
    assert os.path.getsize(os.path.join(out, path)) > 128, path
PY
echo "PASS"
