#!/usr/bin/env python3
"""Per-stage table of a run's manifest.json and each stage's mean time relative to the LRP stage's.

    tools/stage_table.py OUT/manifest.json [STAGE ...]     # default stages: heatmap deconv fidelity
"""
import json
import sys

stages = json.load(open(sys.argv[1]))["stages"]
by_id = {s["id"]: s for s in stages}
print(f"{'stage':<14}{'items':>7}{'mean ms':>10}{'p95 ms':>10}")
for s in stages:
    print(f"{s['id']:<14}{s['count']:>7}{s['mean_ms']:>10.1f}{s['p95_ms']:>10.1f}")
lrp = by_id["lrp"]["mean_ms"]
wanted = sys.argv[2:] or ["heatmap", "deconv", "fidelity"]
print("relative to lrp: " + ", ".join(f"{k} {by_id[k]['mean_ms'] / lrp:.2f}x" for k in wanted if k in by_id))
