#!/usr/bin/python3
"""Train the small VGG-style Fashion-MNIST classifier that lrpflow ships in models/.

Reads the gzipped IDX files of Debian's dataset-fashion-mnist package directly (nothing is downloaded),
trains deterministically on CPU, exports the eval-mode network with torch.jit.script, checks that the
saved file reloads and reproduces the eager logits, and writes a YAML sidecar with the preprocessing,
class names, measured accuracy and the ZBox bounds of the normalised input.

Run with Debian's interpreter (the one that has torch 1.13):

    /usr/bin/python3 tools/train_fashion_mnist.py --out-dir models
"""

import argparse
import collections
import gzip
import hashlib
import json
import os
import platform
import struct
import sys
import tempfile
import time

import numpy as np
import torch
from torch import nn

DEFAULT_DATA_DIR = "/usr/share/datasets/fashion-mnist"
REPOSITORY_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLASS_NAMES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]
MODEL_FILE = "fashion_mnist_vgg.pt"
SIDECAR_FILE = "fashion_mnist_vgg.yaml"
MAX_MODEL_BYTES = 10 * 1024 * 1024
REQUIRED_ACCURACY = 0.91

# IDX type code 0x08 = unsigned byte; the only one Fashion-MNIST uses.
IDX_UNSIGNED_BYTE = 0x08


class DataError(Exception):
    pass


def read_idx(path, expected_dims):
    """Parse a gzipped IDX file into a uint8 numpy array, checking the header against the payload."""
    if not os.path.isfile(path):
        raise DataError(f"{path}: no such file; install the Debian package dataset-fashion-mnist "
                        f"(apt-get install dataset-fashion-mnist) or pass --data-dir")
    try:
        with gzip.open(path, "rb") as stream:
            raw = stream.read()
    except (OSError, EOFError) as error:
        raise DataError(f"{path}: not a readable gzip file: {error}") from error
    if len(raw) < 4:
        raise DataError(f"{path}: {len(raw)} bytes, too short for an IDX header")
    zero, type_code, dims = struct.unpack(">HBB", raw[:4])
    if zero != 0 or type_code != IDX_UNSIGNED_BYTE:
        raise DataError(f"{path}: bad IDX magic (type 0x{type_code:02x}); expected unsigned-byte data")
    if dims != expected_dims:
        raise DataError(f"{path}: {dims} dimensions, expected {expected_dims}")
    header_bytes = 4 + 4 * dims
    if len(raw) < header_bytes:
        raise DataError(f"{path}: truncated IDX header")
    shape = struct.unpack(">" + "I" * dims, raw[4:header_bytes])
    payload = len(raw) - header_bytes
    if payload != int(np.prod(shape)):
        raise DataError(f"{path}: header says shape {shape} ({int(np.prod(shape))} bytes) "
                        f"but the payload has {payload} bytes")
    return np.frombuffer(raw, dtype=np.uint8, offset=header_bytes).reshape(shape)


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_split(data_dir, prefix):
    images_path = os.path.join(data_dir, f"{prefix}-images-idx3-ubyte.gz")
    labels_path = os.path.join(data_dir, f"{prefix}-labels-idx1-ubyte.gz")
    images = read_idx(images_path, 3)
    labels = read_idx(labels_path, 1)
    if images.shape[0] != labels.shape[0]:
        raise DataError(f"{images_path} has {images.shape[0]} images but {labels_path} "
                        f"has {labels.shape[0]} labels")
    if images.shape[1:] != (28, 28):
        raise DataError(f"{images_path}: images are {images.shape[1:]}, expected 28x28")
    if labels.max() >= len(CLASS_NAMES):
        raise DataError(f"{labels_path}: label {labels.max()} out of range 0..9")
    # [N, 1, 28, 28] floats in [0, 1]; labels as int64 for cross_entropy.
    scaled = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)
    return scaled, torch.from_numpy(labels.astype(np.int64)), (images_path, labels_path)


def build_model():
    """VGG-style network. A top-level nn.Sequential (features -> flatten -> classifier) so that the
    leaf modules run in the order they are listed and module paths read like torchvision's VGG
    (`features.0`, `classifier.3`). ReLUs are not in-place so that LRP hooks see distinct tensors."""
    features = nn.Sequential(
        nn.Conv2d(1, 16, kernel_size=3, padding=1),   # features.0: 28x28
        nn.ReLU(inplace=False),
        nn.Conv2d(16, 16, kernel_size=3, padding=1),  # features.2
        nn.ReLU(inplace=False),
        nn.MaxPool2d(kernel_size=2, stride=2),        # features.4: -> 14x14
        nn.Conv2d(16, 32, kernel_size=3, padding=1),  # features.5
        nn.ReLU(inplace=False),
        nn.Conv2d(32, 32, kernel_size=3, padding=1),  # features.7
        nn.ReLU(inplace=False),
        nn.MaxPool2d(kernel_size=2, stride=2),        # features.9: -> 7x7
        nn.Conv2d(32, 64, kernel_size=3, padding=1),  # features.10
        nn.ReLU(inplace=False),
        # No third pool: 7x7 would floor to 3x3 and silently drop the last row and column.
    )
    classifier = nn.Sequential(
        nn.Linear(64 * 7 * 7, 128),                   # classifier.0
        nn.ReLU(inplace=False),
        nn.Dropout(p=0.3),                            # identity in eval mode
        nn.Linear(128, len(CLASS_NAMES)),             # classifier.3
    )
    return nn.Sequential(collections.OrderedDict([
        ("features", features),
        ("flatten", nn.Flatten()),
        ("classifier", classifier),
    ]))


def leaf_table(model, example):
    """(module path, module repr, input shape, output shape) for every leaf module, in call order."""
    rows = []
    hooks = []
    for name, module in model.named_modules():
        if len(list(module.children())) == 0:
            hooks.append(module.register_forward_hook(
                lambda mod, inputs, output, name=name: rows.append(
                    (name, repr(mod), list(inputs[0].shape), list(output.shape)))))
    with torch.no_grad():
        model(example)
    for hook in hooks:
        hook.remove()
    return rows


def evaluate(model, images, labels, mean, std, batch_size=1000):
    model.eval()
    correct = 0
    with torch.no_grad():
        for start in range(0, images.shape[0], batch_size):
            batch = (images[start:start + batch_size] - mean) / std
            predicted = model(batch).argmax(dim=1)
            correct += int((predicted == labels[start:start + batch_size]).sum())
    return correct / images.shape[0]


def random_shift(batch, generator, max_shift):
    """Translate each image by up to max_shift pixels (zero fill = background after scaling to [0,1]).
    Applied before normalisation so padding is true black."""
    if max_shift == 0:
        return batch
    padded = nn.functional.pad(batch, (max_shift,) * 4)
    offsets = torch.randint(0, 2 * max_shift + 1, (batch.shape[0], 2), generator=generator)
    out = torch.empty_like(batch)
    for i in range(batch.shape[0]):
        dy, dx = int(offsets[i, 0]), int(offsets[i, 1])
        out[i] = padded[i, :, dy:dy + 28, dx:dx + 28]
    return out


def yaml_scalar(value):
    # JSON strings and numbers are valid YAML flow scalars; this keeps the output exact and dependency-free.
    return json.dumps(value, ensure_ascii=False)


def yaml_list(values):
    return "[" + ", ".join(yaml_scalar(v) for v in values) + "]"


def write_atomically(path, text_or_bytes):
    directory = os.path.dirname(os.path.abspath(path))
    mode = "wb" if isinstance(text_or_bytes, bytes) else "w"
    fd, temporary = tempfile.mkstemp(prefix=".tmp-", dir=directory)
    try:
        with os.fdopen(fd, mode) as stream:
            # mkstemp creates the file 0600; give it the permissions a plain open() would.
            umask = os.umask(0)
            os.umask(umask)
            os.fchmod(stream.fileno(), 0o666 & ~umask)
            stream.write(text_or_bytes)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=DEFAULT_DATA_DIR,
                        help="folder with the four *-ubyte.gz IDX files (default: %(default)s)")
    parser.add_argument("--out-dir", default=os.path.join(REPOSITORY_ROOT, "models"),
                        help="where to write the model and sidecar (default: the repository's models/)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch intra-op threads (default 1: the build machine is shared)")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-3, help="peak learning rate of the one-cycle schedule")
    parser.add_argument("--max-shift", type=int, default=0,
                        help="random translation augmentation in pixels (0 = none)")
    parser.add_argument("--min-accuracy", type=float, default=REQUIRED_ACCURACY,
                        help="fail (and write nothing) below this test accuracy")
    args = parser.parse_args(argv)
    if args.threads < 1 or args.epochs < 1 or args.batch_size < 1 or args.lr <= 0 or args.max_shift < 0:
        parser.error("--threads, --epochs, --batch-size must be >= 1, --lr > 0, --max-shift >= 0")
    return args


def main(argv):
    args = parse_args(argv)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, seed {args.seed}, {torch.get_num_threads()} thread(s), "
          f"deterministic algorithms on")

    train_images, train_labels, train_paths = load_split(args.data_dir, "train")
    test_images, test_labels, test_paths = load_split(args.data_dir, "t10k")
    print(f"train {tuple(train_images.shape)}, test {tuple(test_images.shape)} from {args.data_dir}")

    # Statistics in float64 so the recorded values do not depend on summation order.
    mean = float(train_images.double().mean())
    std = float(train_images.double().std())
    print(f"training-set pixel mean {mean:.6f}, std {std:.6f} (after scaling to [0,1])")

    model = build_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    steps_per_epoch = (train_images.shape[0] + args.batch_size - 1) // args.batch_size
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=args.lr, epochs=args.epochs, steps_per_epoch=steps_per_epoch)
    shuffle_generator = torch.Generator().manual_seed(args.seed)

    started = time.monotonic()
    accuracy = 0.0
    for epoch in range(1, args.epochs + 1):
        model.train()
        order = torch.randperm(train_images.shape[0], generator=shuffle_generator)
        loss_sum, seen = 0.0, 0
        epoch_started = time.monotonic()
        for start in range(0, order.shape[0], args.batch_size):
            index = order[start:start + args.batch_size]
            batch = random_shift(train_images[index], shuffle_generator, args.max_shift)
            batch = (batch - mean) / std
            loss = nn.functional.cross_entropy(model(batch), train_labels[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            loss_sum += float(loss) * index.shape[0]
            seen += index.shape[0]
        accuracy = evaluate(model, test_images, test_labels, mean, std)
        print(f"epoch {epoch}/{args.epochs}: train loss {loss_sum / seen:.4f}, "
              f"test accuracy {accuracy:.4f}, {time.monotonic() - epoch_started:.0f} s", flush=True)
    training_seconds = time.monotonic() - started
    print(f"training time {training_seconds:.0f} s, final test accuracy {accuracy:.4f}")
    if accuracy < args.min_accuracy:
        print(f"error: test accuracy {accuracy:.4f} is below the required {args.min_accuracy:.4f}; "
              f"nothing written", file=sys.stderr)
        return 1

    model.eval()
    os.makedirs(args.out_dir, exist_ok=True)
    model_path = os.path.join(args.out_dir, MODEL_FILE)
    sidecar_path = os.path.join(args.out_dir, SIDECAR_FILE)

    scripted = torch.jit.script(model)
    # Save to a temporary name first so a failed check never leaves a half-valid model in place.
    temporary_model = model_path + ".tmp"
    scripted.save(temporary_model)
    size = os.path.getsize(temporary_model)
    check_batch = (test_images[:64] - mean) / std
    with torch.no_grad():
        eager_logits = model(check_batch)
        reloaded_logits = torch.jit.load(temporary_model)(check_batch)
    max_deviation = float((eager_logits - reloaded_logits).abs().max())
    if size > MAX_MODEL_BYTES or max_deviation > 1e-5:
        os.unlink(temporary_model)
        print(f"error: exported model {size} bytes (limit {MAX_MODEL_BYTES}), reload deviation "
              f"{max_deviation:.3g} (limit 1e-5); nothing written", file=sys.stderr)
        return 1
    os.replace(temporary_model, model_path)
    print(f"wrote {model_path}: {size} bytes; reloaded model reproduces eager logits on 64 test images "
          f"(max abs deviation {max_deviation:.3g})")

    print("leaf modules (call order):")
    table = leaf_table(model, check_batch[:1])
    for name, module, in_shape, out_shape in table:
        print(f"  {name:14s} {module:70s} {in_shape} -> {out_shape}")

    low = (0.0 - mean) / std
    high = (1.0 - mean) / std
    parameters = sum(p.numel() for p in model.parameters())
    lines = [
        "# Written by tools/train_fashion_mnist.py; regenerate rather than edit.",
        f"model: {yaml_scalar(MODEL_FILE)}",
        "format: torchscript",
        "dataset: fashion-mnist",
        "input_shape: [1, 28, 28]",
        "# Preprocessing: pixel / 255 (-> [0, 1]), then (x - mean) / std per channel.",
        "pixel_scale: 255",
        f"mean: {yaml_list([round(mean, 8)])}",
        f"std: {yaml_list([round(std, 8)])}",
        "# Bounds of the normalised input, for the ZBox rule: (0 - mean) / std and (1 - mean) / std.",
        "zbox:",
        f"  low: {yaml_list([round(low, 8)])}",
        f"  high: {yaml_list([round(high, 8)])}",
        f"classes: {yaml_list(CLASS_NAMES)}",
        f"test_accuracy: {accuracy:.4f}",
        "test_images: 10000",
        f"seed: {args.seed}",
        f"threads: {args.threads}",
        f"epochs: {args.epochs}",
        f"parameters: {parameters}",
        f"training_seconds: {training_seconds:.0f}",
        f"torch_version: {yaml_scalar(torch.__version__)}",
        "data_sha256:",
    ]
    for path in train_paths + test_paths:
        lines.append(f"  {yaml_scalar(os.path.basename(path))}: {sha256_of(path)}")
    write_atomically(sidecar_path, "\n".join(lines) + "\n")
    print(f"wrote {sidecar_path}")
    print(f"parameters {parameters}, zbox low {low:.6f}, high {high:.6f}, machine {platform.machine()}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except DataError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
    except OSError as error:  # unwritable output folder, full disk: the message names the path
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
