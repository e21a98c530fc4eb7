#!/usr/bin/env bash
# Faithfulness table: region-perturbation AOPC (MoRF, LeRF) of every LRP rule set in
# configs/rulesets and every baseline attribution on the quickstart model, plus the random ranking.
#
#   tools/evaluate.sh [BUILD_DIR] [OUT_DIR] [EXTRA lrpflow run options...]
#
# BUILD_DIR defaults to build/, OUT_DIR to out/evaluation/. Each method is one `lrpflow run` of
# pipelines/evaluation.yaml (LRP) or pipelines/evaluation_baseline.yaml (baselines) into
# OUT_DIR/<method>/; the table is read from each run's faithfulness.json and printed as Markdown.
# Extra options are passed to every run, e.g. --set stages.load.options.count=50.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-$root/build}"
out="${2:-$root/out/evaluation}"
shift $(( $# > 2 ? 2 : $# ))
lrpflow="$build/bin/lrpflow"
[[ -x "$lrpflow" ]] || { echo "evaluate.sh: $lrpflow not found; build first (cmake --build $build)" >&2; exit 2; }

# Bounds of the input domain for ZBox, in normalized units (models/fashion_mnist_vgg.yaml).
zbox=(--set 'resources.rules.options.params=[zbox.low=-0.81025765, zbox.high=2.02240892]')

declare -a names=()
run() {  # run NAME PIPELINE [options...]
  local name="$1" pipeline="$2"
  shift 2
  local start=$SECONDS
  if ! "$lrpflow" -q run "$root/pipelines/$pipeline" --out "$out/$name" "$@" "${extra[@]}"; then
    echo "evaluate.sh: the run '$name' failed; see $out/$name/manifest.json" >&2
    exit 1
  fi
  echo "$name: $((SECONDS - start)) s" >&2
  names+=("$name")
}
extra=("$@")

for ruleset in epsilon zplus alpha2beta1 gamma epsilon_plus_flat epsilon_gamma_box epsilon_alpha2_beta1; do
  options=(--set "resources.rules.options.name=$ruleset")
  [[ $ruleset == epsilon_gamma_box ]] && options+=("${zbox[@]}")
  run "lrp_$ruleset" evaluation.yaml "${options[@]}"
done
for baseline in gradient gradient_x_input integrated_gradients smoothgrad gradcam; do
  run "$baseline" evaluation_baseline.yaml --set "stages.explain.type=$baseline"
done

value() {  # value FILE ORDERING: the mean AOPC from faithfulness.json
  sed -n "/\"aopc\"/,/}/s/.*\"$2\": *\([-0-9.eE+]*\).*/\1/p" "$1"
}
echo
echo "| method | AOPC MoRF | AOPC LeRF | MoRF - LeRF |"
echo "|---|---:|---:|---:|"
for name in "${names[@]}"; do
  summary="$out/$name/faithfulness.json"
  morf=$(value "$summary" morf)
  lerf=$(value "$summary" lerf)
  awk -v n="$name" -v m="$morf" -v l="$lerf" 'BEGIN { printf "| %s | %.4f | %.4f | %.4f |\n", n, m, l, m - l }'
done
# The random ranking does not depend on the attribution (seeded per item): take it from the first run.
random=$(value "$out/${names[0]}/faithfulness.json" random)
awk -v r="$random" 'BEGIN { printf "| random ranking | %.4f | %.4f | 0 |\n", r, r }'
echo
echo "samples: $(sed -n 's/.*"samples": *\([0-9]*\).*/\1/p' "$out/${names[0]}/faithfulness.json")"
