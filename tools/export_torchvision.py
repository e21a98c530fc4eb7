#!/usr/bin/python3
"""Export torchvision's vgg16 / resnet18 / resnet50 to TorchScript for lrpflow, with a YAML sidecar.

Nothing is ever downloaded. Without --weights the network gets random weights under a fixed seed, which is
enough to exercise a pipeline but NOT to get meaningful explanations; the script says so on stdout and in
the sidecar. With --weights FILE it loads a torchvision ImageNet state dict (.pth) that you already have and
checks that every key and shape matches the architecture before exporting.

Run with Debian's interpreter (needs python3-torch and python3-torchvision):

    /usr/bin/python3 tools/export_torchvision.py --arch resnet18 --weights ~/resnet18-f37072fd.pth
    /usr/bin/python3 tools/export_torchvision.py --arch all            # random weights, models/imagenet/
"""

import argparse
import hashlib
import json
import os
import sys
import tempfile

try:
    import torch
    import torchvision
    from torchvision import models as tv_models
except ImportError as import_error:  # the pyenv `python3` on PATH has no torch
    sys.exit(f"error: {import_error}; run with /usr/bin/python3 and install the Debian packages "
             f"python3-torch and python3-torchvision")

ARCHITECTURES = {
    "vgg16": tv_models.vgg16,
    "resnet18": tv_models.resnet18,
    "resnet50": tv_models.resnet50,
}
REPOSITORY_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RANDOM_SEED = 0
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
RESIZE = 256
CENTER_CROP = 224
# Tolerance of the reload check: the scripted graph runs the same kernels, so differences are rounding only.
RELOAD_TOLERANCE = 1e-4
MAX_LISTED = 10


class ExportError(Exception):
    pass


def imagenet_class_names():
    # Shipped inside the torchvision package itself (no download); private module, so degrade gracefully.
    try:
        from torchvision.models._meta import _IMAGENET_CATEGORIES
        return list(_IMAGENET_CATEGORIES)
    except ImportError:
        return None


def build(arch):
    """Construct the architecture with torchvision's own init under a fixed seed (weights=None: no download)."""
    torch.manual_seed(RANDOM_SEED)
    return ARCHITECTURES[arch](weights=None).eval()


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_state_dict(path):
    if not os.path.isfile(path):
        raise ExportError(f"{path}: no such weight file")
    try:
        # weights_only: a .pth is a pickle; refuse anything but tensors and plain containers.
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises a variety of types for corrupt / non-weight pickles
        hint = ""
        if "Unsupported class" in str(error):
            hint = " (it holds pickled Python objects; save and pass model.state_dict() instead)"
        raise ExportError(f"{path}: not a loadable PyTorch state dict{hint}: {error}") from error
    if isinstance(loaded, dict) and "state_dict" in loaded and isinstance(loaded["state_dict"], dict):
        loaded = loaded["state_dict"]  # training checkpoints wrap the weights
    if not isinstance(loaded, dict) or not loaded:
        raise ExportError(f"{path}: expected a dict of parameter name -> tensor, got {type(loaded).__name__}")
    not_tensors = [key for key, value in loaded.items() if not isinstance(value, torch.Tensor)]
    if not_tensors:
        raise ExportError(f"{path}: entries that are not tensors: {', '.join(map(str, not_tensors[:MAX_LISTED]))}")
    # nn.DataParallel checkpoints prefix every key with "module."
    if all(key.startswith("module.") for key in loaded):
        loaded = {key[len("module."):]: value for key, value in loaded.items()}
    return loaded


def state_dict_mismatches(model, state):
    """Missing keys, unexpected keys and shape mismatches between a model and a state dict.
    BatchNorm's num_batches_tracked may be absent from older torchvision files (torch fills it in)."""
    expected = model.state_dict()
    missing = [key for key in expected if key not in state and not key.endswith("num_batches_tracked")]
    unexpected = [key for key in state if key not in expected]
    wrong_shape = [(key, tuple(state[key].shape), tuple(expected[key].shape))
                   for key in expected if key in state and state[key].shape != expected[key].shape]
    return missing, unexpected, wrong_shape


def describe_mismatch(path, arch, missing, unexpected, wrong_shape):
    def listed(items):
        shown = ", ".join(items[:MAX_LISTED])
        return shown + (f", ... ({len(items) - MAX_LISTED} more)" if len(items) > MAX_LISTED else "")

    lines = [f"{path}: weights do not match torchvision {arch}:"]
    if missing:
        lines.append(f"  {len(missing)} key(s) the model needs are missing from the file: {listed(missing)}")
    if unexpected:
        lines.append(f"  {len(unexpected)} key(s) in the file are not in the model: {listed(unexpected)}")
    if wrong_shape:
        lines.append(f"  {len(wrong_shape)} key(s) have the wrong shape (file vs model): " + listed(
            [f"{key} {list(got)} vs {list(want)}" for key, got, want in wrong_shape]))
    return lines


def load_weights(model, arch, path):
    state = read_state_dict(path)
    missing, unexpected, wrong_shape = state_dict_mismatches(model, state)
    if missing or unexpected or wrong_shape:
        lines = describe_mismatch(path, arch, missing, unexpected, wrong_shape)
        # Name the architecture the file does fit, the most likely mistake being --arch.
        for other in ARCHITECTURES:
            if other != arch and not any(state_dict_mismatches(build(other), state)):
                lines.append(f"  the file matches torchvision {other}: use --arch {other}")
        raise ExportError("\n".join(lines))
    result = model.load_state_dict(state, strict=False)
    leftover = [key for key in result.missing_keys if not key.endswith("num_batches_tracked")]
    if leftover or result.unexpected_keys:
        raise ExportError(f"{path}: load_state_dict left keys unmatched: {leftover + result.unexpected_keys}")
    return model.eval()


def yaml_scalar(value):
    # JSON strings and numbers are valid YAML flow scalars: exact output without a YAML dependency.
    return json.dumps(value, ensure_ascii=False)


def yaml_list(values):
    return "[" + ", ".join(yaml_scalar(v) for v in values) + "]"


def sidecar_text(arch, model_file, weights_line, weights_sha256, parameters):
    low = [round((0.0 - m) / s, 8) for m, s in zip(IMAGENET_MEAN, IMAGENET_STD)]
    high = [round((1.0 - m) / s, 8) for m, s in zip(IMAGENET_MEAN, IMAGENET_STD)]
    lines = [
        "# Written by tools/export_torchvision.py; regenerate rather than edit.",
        f"model: {yaml_scalar(model_file)}",
        "format: torchscript",
        f"arch: {arch}",
        f"weights: {yaml_scalar(weights_line)}",
    ]
    if weights_sha256:
        lines.append(f"weights_sha256: {weights_sha256}")
    lines += [
        f"torchvision_version: {yaml_scalar(torchvision.__version__)}",
        f"parameters: {parameters}",
        f"input_shape: [3, {CENTER_CROP}, {CENTER_CROP}]",
        "# ImageNet preprocessing: resize the shorter side to `resize`, centre-crop `center_crop`,",
        "# pixel / 255 (-> [0, 1]), then (x - mean) / std per RGB channel.",
        f"resize: {RESIZE}",
        f"center_crop: {CENTER_CROP}",
        "pixel_scale: 255",
        "channel_order: RGB",
        f"mean: {yaml_list(IMAGENET_MEAN)}",
        f"std: {yaml_list(IMAGENET_STD)}",
        "# Bounds of the normalised input, for the ZBox rule: (0 - mean) / std and (1 - mean) / std.",
        "zbox:",
        f"  low: {yaml_list(low)}",
        f"  high: {yaml_list(high)}",
    ]
    classes = imagenet_class_names()
    if classes:
        lines.append(f"classes: {yaml_list(classes)}")
    return "\n".join(lines) + "\n"


def write_text_atomically(path, text):
    fd, temporary = tempfile.mkstemp(prefix=".tmp-", dir=os.path.dirname(os.path.abspath(path)))
    try:
        with os.fdopen(fd, "w") as stream:
            # mkstemp creates the file 0600; give it the permissions a plain open() would.
            umask = os.umask(0)
            os.umask(umask)
            os.fchmod(stream.fileno(), 0o666 & ~umask)
            stream.write(text)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def export(arch, out_dir, weights_path):
    model = build(arch)
    if weights_path:
        model = load_weights(model, arch, weights_path)
        weights_line = os.path.abspath(weights_path)
        weights_sha256 = sha256_of(weights_path)
        print(f"{arch}: weights loaded from {weights_line}")
    else:
        weights_line = (f"random (seed {RANDOM_SEED}) — explanations of an untrained network are not "
                        f"meaningful")
        weights_sha256 = None
        print(f"{arch}: NO WEIGHT FILE GIVEN: weights are random (seed {RANDOM_SEED}) — explanations of an "
              f"untrained network are not meaningful; pass --weights FILE for real ones")

    os.makedirs(out_dir, exist_ok=True)
    model_file = f"{arch}.pt"
    model_path = os.path.join(out_dir, model_file)
    sidecar_path = os.path.join(out_dir, f"{arch}.yaml")
    temporary = model_path + ".tmp"
    try:
        torch.jit.script(model).save(temporary)
        example = torch.randn(2, 3, CENTER_CROP, CENTER_CROP, generator=torch.Generator().manual_seed(1))
        with torch.no_grad():
            eager = model(example)
            reloaded = torch.jit.load(temporary)(example)
        deviation = float((eager - reloaded).abs().max())
        if eager.shape != (2, 1000) or not deviation <= RELOAD_TOLERANCE:
            raise ExportError(f"{arch}: the saved TorchScript model does not reproduce the eager model "
                              f"(output {list(reloaded.shape)}, max abs deviation {deviation:.3g})")
        os.replace(temporary, model_path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    parameters = sum(p.numel() for p in model.parameters())
    write_text_atomically(sidecar_path, sidecar_text(arch, model_file, weights_line, weights_sha256, parameters))
    size_mb = os.path.getsize(model_path) / 1e6
    print(f"{arch}: wrote {model_path} ({size_mb:.1f} MB, {parameters} parameters; reload reproduces eager "
          f"logits, max abs deviation {deviation:.3g}) and {sidecar_path}")


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", required=True, choices=sorted(ARCHITECTURES) + ["all"])
    parser.add_argument("--out", default=os.path.join(REPOSITORY_ROOT, "models", "imagenet"),
                        help="output folder (default: the repository's models/imagenet/)")
    parser.add_argument("--weights", help="torchvision .pth state dict you already have (one --arch only)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    args = parser.parse_args(argv)
    if args.arch == "all" and args.weights:
        parser.error("--weights belongs to one architecture: pick --arch vgg16, resnet18 or resnet50")
    if args.threads < 1:
        parser.error("--threads must be >= 1")
    torch.set_num_threads(args.threads)
    archs = list(ARCHITECTURES) if args.arch == "all" else [args.arch]
    for arch in archs:
        export(arch, args.out, args.weights)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except ExportError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
    except OSError as error:  # unwritable output folder, full disk: the message names the path
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
