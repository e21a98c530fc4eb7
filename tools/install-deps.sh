#!/usr/bin/env bash
# Installs the Debian 12 packages lrpflow needs to build, test and run -- only the missing ones.
# Does nothing (no apt, no network) when everything is already installed.
set -euo pipefail

packages=(
  cmake g++ ninja-build pkg-config
  # the sanitizer build and the fuzzers (tools/sanitize.sh, tools/fuzz.sh): clang, its runtimes
  # (ASan, UBSan, libFuzzer), lld, llvm-symbolizer
  clang-14 libclang-rt-14-dev lld-14 llvm-14
  libtorch-dev libtbb-dev libopencv-dev libyaml-cpp-dev
  libboost-dev libboost-filesystem-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libcli11-dev libfmt-dev nlohmann-json3-dev zlib1g-dev libzip-dev
  dataset-fashion-mnist
  graphviz libgraphviz-dev
  python3-torch python3-torchvision
  # report test: headless Chromium driven through chromedriver
  chromium chromium-driver
  # photos for pipelines/vgg16.yaml and resnet50.yaml
  darknet
  # scale-out tests: a one-node Slurm cluster and Open MPI
  slurmctld slurmd slurm-client munge
  libopenmpi-dev openmpi-bin
)

missing=()
for package in "${packages[@]}"; do
  # "install ok installed" is the only state in which a package is fully usable.
  status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
  if [[ "$status" != "install ok installed" ]]; then
    missing+=("$package")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-deps: all ${#packages[@]} packages are installed"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo_cmd=(sudo)
  else
    echo "install-deps: need root (or sudo) to install: ${missing[*]}" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update
"${sudo_cmd[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
