#!/usr/bin/env bash
# The layers of docs/architecture.md, checked on the built libraries: none needs (DT_NEEDED) a
# library its layer may not use. Compiling enforces the includes; this catches what a link line
# would drag in (the core once linked zlib and Graphviz for everyone).
#   library_layers_test.sh <build dir>
set -euo pipefail
build=$1
failures=0

check() {  # check <file> <forbidden regex> <why>
  local file=$1 forbidden=$2 why=$3
  [[ -f $file ]] || { echo "FAIL: $file is missing"; failures=$((failures + 1)); return; }
  local needed
  needed=$(readelf -d "$file" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
  [[ -n $needed ]] || { echo "FAIL: no NEEDED entries read from $file"; failures=$((failures + 1)); return; }
  local bad
  bad=$(grep -E "$forbidden" <<<"$needed" || true)
  if [[ -n $bad ]]; then
    echo "FAIL: $(basename "$file") needs $(tr '\n' ' ' <<<"$bad")($why)"
    failures=$((failures + 1))
  else
    echo "ok: $(basename "$file") needs none of $forbidden"
  fi
}

lib=$build/framework
plugins=$build/plugins
check "$lib/liblrpflow.so" 'opencv|gvc|cgraph|libzip|libz\.|liblrpflow_' "the core knows no domain library"
check "$lib/liblrpflow_lrp.so" 'opencv|gvc|cgraph|liblrpflow_(image|selection|visual|report)' "lrp is core plus LibTorch"
check "$lib/liblrpflow_image.so" 'gvc|cgraph|libzip|liblrpflow_(lrp|selection|visual|report)' "image is core plus OpenCV"
check "$lib/liblrpflow_selection.so" 'opencv|liblrpflow_(image|visual|report)' "selection is lrp plus Graphviz"
check "$lib/liblrpflow_visual.so" 'gvc|cgraph|liblrpflow_(selection|report)' "visual is image plus lrp"
check "$lib/liblrpflow_report.so" 'opencv|gvc|cgraph|libzip|liblrpflow_' "the report reads manifests and files"
check "$plugins/lrpflow_writers.so" 'gvc|cgraph|libzip|opencv_imgproc|liblrpflow_(lrp|selection|visual|report)' "writers wrap core and image"
check "$plugins/lrpflow_loaders.so" 'gvc|cgraph|libzip|liblrpflow_(lrp|selection|visual|report)' "loaders wrap core and image"
check "$plugins/lrpflow_lrp_stages.so" 'opencv|gvc|cgraph|liblrpflow_(image|selection|visual|report)' "the LRP stages wrap lrp"
check "$build/bin/lrpflow" 'opencv|gvc|cgraph|liblrpflow_(image|selection|visual)' "the CLI runs pipelines; plugins bring the rest"

if ((failures)); then
  echo "$failures layer violation(s)"
  exit 1
fi
