#!/usr/bin/env bash
# A full disk: PNG outputs written into a full filesystem (a 200 KiB tmpfs mounted over DIR/items,
# in a private mount namespace) fail their items with an error naming the file and ENOSPC; no
# empty or short file is recorded ok (or even put under its name). After space is freed, --resume
# runs those items again and every output is whole: the size the manifest records, ending in
# PNG's IEND chunk.
#
# usage: full_disk_test.sh LRPFLOW SOURCE_DIR
set -euo pipefail

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }

if [[ "${1:-}" != --inside ]]; then
  lrpflow=$(realpath "$1") source_dir=$(realpath "$2")
  work=$(realpath "$(mktemp -d "${TMPDIR:-/tmp}/lrpflow-full-disk-test.XXXXXX")")
  source "$(dirname "${BASH_SOURCE[0]}")/../common/processes.sh"
  trap 'status=$?; check_no_processes_left || status=1; rm -rf "$work"; exit $status' EXIT
  script=$(realpath "${BASH_SOURCE[0]}")
  # The tmpfs is visible to this test's processes only (and gone with them): root needs a mount
  # namespace, anyone else a user namespace as well (as tests/plugins/install_test.sh does).
  if [[ $(id -u) == 0 ]] && unshare --mount true 2>/dev/null; then
    unshare --mount bash "$script" --inside "$lrpflow" "$source_dir" "$work"
  elif unshare --user --map-root-user --mount true 2>/dev/null; then
    unshare --user --map-root-user --mount bash "$script" --inside "$lrpflow" "$source_dir" "$work"
  else
    fail "cannot mount a small tmpfs here: the test needs root or user namespaces (unshare --user --mount)"
  fi
  exit $?
fi

lrpflow=$2 source_dir=$3 work=$4
out=$work/out
mkdir -p "$out/items"
mount -t tmpfs -o size=200k lrpflow-full-disk "$out/items"
cat >"$work/pipeline.yaml" <<EOF
version: 1
stages:
  - id: load
    type: image_loader
    options: {path: $source_dir/samples/fashion-mnist, color: gray}
  - id: save
    type: png_writer
    options: {slot: image, kind: input_image, suffix: .input.png}
runtime: {threads: 1, max_in_flight: 1}
output: {dir: $out, report: false}
EOF
items=$(ls "$source_dir"/samples/fashion-mnist/*.png | wc -l)
[[ $items -gt 0 ]] || fail "no sample images in $source_dir/samples/fashion-mnist"

# Fill the tmpfs to the last block.
dd if=/dev/zero of="$out/items/filler" bs=4k 2>/dev/null || true
[[ $(df --output=avail -B1 "$out/items" | tail -n 1 | tr -d ' ') -eq 0 ]] || fail "the tmpfs is not full"

echo "== run into a full disk"
set +e
"$lrpflow" run "$work/pipeline.yaml" >"$work/full.log" 2>&1
code=$?
set -e
[[ $code -eq 1 ]] || { cat "$work/full.log"; fail "a run into a full disk exited $code, expected 1"; }
pass "the run exits 1"
manifest=$out/manifest.json
[[ $(jq '[.items[] | select(.status == "ok")] | length' "$manifest") -eq 0 ]] || {
  jq '.items' "$manifest"; fail "items were recorded ok although nothing could be written"; }
[[ $(jq '.items | length' "$manifest") -eq $items ]] || fail "not every item is recorded"
# Every error names its file and the cause.
while IFS= read -r message; do
  [[ "$message" == *"$out/items/"*".input.png"* && "$message" == *"No space left on device"* ]] ||
    fail "an item error does not name the file and ENOSPC: $message"
done < <(jq -r '.items[].error.message' "$manifest")
grep -q "No space left on device" "$work/full.log" || { cat "$work/full.log"; fail "the log does not say the disk is full"; }
pass "every item failed, naming its file and 'No space left on device'"
leftovers=$(find "$out/items" -name '*.png' -o -name '*.tmp-*' | head -n 5)
[[ -z "$leftovers" ]] || fail "files were left under their names or as temporaries: $leftovers"
pass "no empty PNG and no temporary left in the full folder"

echo "== free the space, --resume"
rm "$out/items/filler"
"$lrpflow" run "$work/pipeline.yaml" --resume >"$work/resume.log" 2>&1 || { cat "$work/resume.log"; fail "--resume after freeing space failed"; }
[[ $(jq '[.items[] | select(.status == "ok")] | length' "$manifest") -eq $items ]] || fail "--resume did not redo every item"
checked=0
while read -r path bytes; do
  file=$out/$path
  [[ -f "$file" ]] || fail "$path is missing"
  size=$(stat -c %s "$file")
  [[ $size -eq $bytes && $size -gt 0 ]] || fail "$path has $size bytes, the manifest records $bytes"
  [[ $(tail -c 8 "$file" | head -c 4) == IEND ]] || fail "$path does not end with PNG's IEND chunk"
  checked=$((checked + 1))
done < <(jq -r '.items[] | .output_bytes | to_entries[] | "\(.key) \(.value)"' "$manifest")
[[ $checked -eq $items ]] || fail "the manifest records the size of $checked outputs, expected $items"
pass "--resume redid the $items items; every PNG is whole and has the size the manifest records"
