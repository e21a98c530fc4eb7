#!/usr/bin/python3
"""Checks that a merged sharded run equals a single-process run of the same pipeline.

usage: compare_runs.py SINGLE_DIR MERGED_DIR

Both directories hold a manifest.json. Asserted: the same items (ids, sources, indices, status),
the same output files per item, every .npy output equal up to float noise, per-item metrics equal
up to float noise, the same items_total and pipeline/input hashes, and the run-level fidelity CSV
(merged from the shards' CSVs) equal row by row up to float noise. Exit 0 when equal; otherwise
each difference is printed and the exit code is 1.
"""
import csv
import json
import math
import os
import sys

import numpy as np

RTOL, ATOL = 1e-4, 1e-6


def load(directory):
    with open(os.path.join(directory, "manifest.json")) as f:
        return json.load(f)


def close(a, b):
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=RTOL, abs_tol=ATOL)


def main():
    single_dir, merged_dir = sys.argv[1], sys.argv[2]
    single, merged = load(single_dir), load(merged_dir)
    problems = []
    for key in ("pipeline_hash", "inputs_hash", "items_total", "state"):
        if single["run"][key] != merged["run"][key]:
            problems.append(f"run.{key}: {single['run'][key]!r} vs {merged['run'][key]!r}")
    items_a = {i["id"]: i for i in single["items"]}
    items_b = {i["id"]: i for i in merged["items"]}
    if set(items_a) != set(items_b):
        problems.append(f"item ids differ: only single {sorted(set(items_a) - set(items_b))}, "
                        f"only merged {sorted(set(items_b) - set(items_a))}")
    if len(items_a) == 0:
        problems.append("the single run has no items")
    npy_compared = 0
    for item_id in sorted(set(items_a) & set(items_b)):
        a, b = items_a[item_id], items_b[item_id]
        for key in ("source", "index", "status", "outputs"):
            if a[key] != b[key]:
                problems.append(f"item {item_id}: {key} {a[key]!r} vs {b[key]!r}")
        for name, value in a["metrics"].items():
            if not close(value, b["metrics"].get(name)):
                problems.append(f"item {item_id}: metric {name} {value} vs {b['metrics'].get(name)}")
        for kind, paths in a["outputs"].items():
            for path in paths:
                if not path.endswith(".npy"):
                    continue
                x = np.load(os.path.join(single_dir, path))
                y = np.load(os.path.join(merged_dir, path))
                if x.shape != y.shape or not np.allclose(x, y, rtol=RTOL, atol=ATOL):
                    problems.append(f"item {item_id}: {path} differs (max abs diff "
                                    f"{np.max(np.abs(x - y)) if x.shape == y.shape else 'shape'})")
                npy_compared += 1
    if npy_compared == 0:
        problems.append("no .npy outputs were compared")

    def run_files(manifest, kind):
        return manifest["run_outputs"].get(kind, [])

    csv_a, csv_b = run_files(single, "fidelity_csv"), run_files(merged, "fidelity_csv")
    if csv_a != csv_b:
        problems.append(f"fidelity_csv run outputs: {csv_a} vs {csv_b}")
    for path in csv_a:
        if path not in csv_b:
            continue
        with open(os.path.join(single_dir, path)) as f:
            rows_a = {(r["layer"], r["selector"], r["k"], r["n"]): r for r in csv.DictReader(f)}
        with open(os.path.join(merged_dir, path)) as f:
            rows_b = {(r["layer"], r["selector"], r["k"], r["n"]): r for r in csv.DictReader(f)}
        if set(rows_a) != set(rows_b) or not rows_a:
            problems.append(f"{path}: rows differ ({len(rows_a)} vs {len(rows_b)})")
        for key in set(rows_a) & set(rows_b):
            for column in ("mse", "smape", "kept_class", "items"):
                if not close(float(rows_a[key][column]), float(rows_b[key][column])):
                    problems.append(f"{path} {key}: {column} {rows_a[key][column]} vs {rows_b[key][column]}")
    for p in problems[:50]:
        print("DIFF:", p)
    print(f"compared {len(items_a)} items, {npy_compared} .npy files: "
          f"{'equal' if not problems else str(len(problems)) + ' differences'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
