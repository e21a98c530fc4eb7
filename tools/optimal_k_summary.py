#!/usr/bin/python3
"""Distribution of the fidelity sweep's optimal_k per layer, as a Markdown table.

    python3 tools/optimal_k_summary.py OUT_DIR

OUT_DIR is the output folder of a run whose `fidelity` stage had `sweep: true`. Reads the per-item
metrics `fidelity/<layer>/optimal_k` from OUT_DIR/manifest.json (items whose status is ok) and the
grid of k per layer from OUT_DIR/fidelity_sweep.csv. Per layer: how many items have an optimal_k
(the others reach no SMAPE under `smape_target` at any k), its min / median / max, and how many
items have each k of the grid (`none`: no k).
"""
import csv
import json
import re
import statistics
import sys
from pathlib import Path


def main():
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    out = Path(sys.argv[1])
    try:
        manifest = json.loads((out / "manifest.json").read_text())
        with open(out / "fidelity_sweep.csv", newline="") as f:
            sweep = list(csv.DictReader(f))
    except (OSError, ValueError) as e:
        print(f"optimal_k_summary.py: {e}", file=sys.stderr)
        return 1

    grid = {}  # layer -> the k values swept
    for row in sweep:
        grid.setdefault(row["layer"], set()).add(int(row["k"]))
    # features.2 before features.10
    natural = lambda name: [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]
    items = [item for item in manifest["items"] if item["status"] == "ok"]
    print(f"{len(items)} items of {out}\n")
    print("| layer | items with optimal_k | min | median | max | items per k (k: count) |")
    print("|---|---|---|---|---|---|")
    for layer, ks in sorted(grid.items(), key=lambda entry: natural(entry[0])):
        values = [item["metrics"].get(f"fidelity/{layer}/optimal_k") for item in items]
        found = [int(v) for v in values if v is not None]
        counts = " · ".join(f"{k}: {found.count(k)}" for k in sorted(ks))
        counts += f" · none: {len(values) - len(found)}"
        if found:
            spread = f"{min(found)} | {statistics.median(found):g} | {max(found)}"
        else:
            spread = "– | – | –"
        print(f"| {layer} | {len(found)} of {len(values)} | {spread} | {counts} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
