#!/usr/bin/env python3
"""Soak benchmark: one long run, watched from outside.

Runs `lrpflow run` on the quickstart pipeline with ITEMS Fashion-MNIST images (the dataset has
10,000 test images) and samples the process every 0.2 s: peak RSS (VmHWM) and RSS from
/proc/PID/status, and the items recorded so far (the lines of the run's item log). Prints peak RSS
after 1,000 and after ITEMS items, the checkpoint times the run logged (at -v), and items per second
in each tenth of the run. docs/performance.md records its output.

    python3 tools/soak.py [--items 10000] [--lrpflow build/bin/lrpflow] [--out /tmp/lrpflow-soak]
"""
import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
import time


def status_kb(pid, key):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def logged_items(out):
    count = 0
    for log in glob.glob(os.path.join(out, "manifest.items.*.jsonl")):
        try:
            with open(log, "rb") as f:
                count += f.read().count(b"\n")
        except OSError:
            pass
    return count


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=10000)
    parser.add_argument("--lrpflow", default=os.path.join(root, "build", "bin", "lrpflow"))
    parser.add_argument("--pipeline", default=os.path.join(root, "pipelines", "quickstart.yaml"))
    parser.add_argument("--out", default="/tmp/lrpflow-soak")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    shutil.rmtree(args.out, ignore_errors=True)
    command = [args.lrpflow, "-v", "run", args.pipeline, "--out", args.out, "--threads", str(args.threads),
               "--set", f"stages.load.options.count={args.items}", "--set", "output.report=false"]
    print("$ " + " ".join(command), flush=True)
    stderr_path = args.out + ".log"
    with open(stderr_path, "w") as stderr:
        start = time.monotonic()
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr)
        samples = []  # (seconds, items, hwm_kb, rss_kb)
        while process.poll() is None:
            hwm, rss = status_kb(process.pid, "VmHWM"), status_kb(process.pid, "VmRSS")
            if hwm is not None:
                samples.append((time.monotonic() - start, logged_items(args.out), hwm, rss))
            time.sleep(0.2)
        elapsed = time.monotonic() - start
    if process.returncode != 0:
        sys.exit(f"lrpflow exited with {process.returncode}; see {stderr_path}")

    def peak_at(items):
        before = [s for s in samples if s[1] <= items]
        return max(s[2] for s in before) / 1024.0 if before else float("nan")

    items_done = max((s[1] for s in samples), default=0)
    print(f"{args.items} items in {elapsed:.1f} s ({args.items / elapsed:.1f} items/s), {len(samples)} samples")
    first = min(1000, args.items)
    at_first, at_end = peak_at(first), max(s[2] for s in samples) / 1024.0
    print(f"peak RSS after {first} items: {at_first:.1f} MB; after {items_done} items: {at_end:.1f} MB "
          f"(ratio {at_end / at_first:.3f})")
    with open(stderr_path) as f:
        times = [float(m.group(1)) for m in re.finditer(r"checkpoint of \d+ items: ([0-9.]+) ms", f.read())]
    if times:
        tenth = max(1, len(times) // 10)
        print(f"checkpoints: {len(times)}; mean of the first {tenth}: {sum(times[:tenth]) / tenth:.2f} ms, "
              f"of the last {tenth}: {sum(times[-tenth:]) / tenth:.2f} ms, max {max(times):.2f} ms")
    print("items/s per tenth of the run:", end="")
    for k in range(10):
        lo, hi = items_done * k // 10, items_done * (k + 1) // 10
        span = [s for s in samples if lo <= s[1] <= hi]
        if len(span) >= 2 and span[-1][0] > span[0][0]:
            print(f" {(span[-1][1] - span[0][1]) / (span[-1][0] - span[0][0]):.0f}", end="")
    print()


if __name__ == "__main__":
    main()
