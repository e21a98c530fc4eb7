#!/usr/bin/python3
"""Exports a few Fashion-MNIST test images as PNG into samples/fashion-mnist/.

Standard library only (no numpy, no torch), so any python3 runs it:
    /usr/bin/python3 tools/make_samples.py [--count 8] [--out samples/fashion-mnist]
It takes the first test image of each of the first COUNT classes and writes
t10k-<record>-<class>.png (28x28, 8-bit gray). The IDX files come from the Debian package
dataset-fashion-mnist.
"""
import argparse
import gzip
import os
import struct
import sys
import zlib

DATASET = "/usr/share/datasets/fashion-mnist"
CLASSES = ["tshirt_top", "trouser", "pullover", "dress", "coat",
           "sandal", "shirt", "sneaker", "bag", "ankle_boot"]


def read_idx(path, magic):
    try:
        with gzip.open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        sys.exit(f"{path}: {e} (install the Debian package dataset-fashion-mnist)")
    if len(data) < 8 or struct.unpack(">I", data[:4])[0] != magic:
        sys.exit(f"{path}: not an IDX file with magic {magic:#010x}")
    return data


def png_bytes(width, height, gray_rows):
    def chunk(kind, body):
        return (struct.pack(">I", len(body)) + kind + body +
                struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))
    raw = b"".join(b"\x00" + row for row in gray_rows)  # filter type 0 per row
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grayscale
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) +
            chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=8, help="number of classes (one image each)")
    parser.add_argument("--out", default=os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "samples", "fashion-mnist")))
    args = parser.parse_args()
    images = read_idx(os.path.join(DATASET, "t10k-images-idx3-ubyte.gz"), 0x803)
    labels = read_idx(os.path.join(DATASET, "t10k-labels-idx1-ubyte.gz"), 0x801)
    count, rows, cols = struct.unpack(">III", images[4:16])
    os.makedirs(args.out, exist_ok=True)
    wanted = set(range(min(args.count, len(CLASSES))))
    for record in range(count):
        label = labels[8 + record]
        if label not in wanted:
            continue
        wanted.discard(label)
        start = 16 + record * rows * cols
        pixels = images[start:start + rows * cols]
        png = png_bytes(cols, rows, [pixels[r * cols:(r + 1) * cols] for r in range(rows)])
        path = os.path.join(args.out, f"t10k-{record:05d}-{CLASSES[label]}.png")
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(png)
        os.replace(tmp, path)
        print(f"{path} ({len(png)} bytes, class {label})")
        if not wanted:
            break


if __name__ == "__main__":
    main()
