#!/usr/bin/env bash
# Wheels of p2pbench's dependencies except torch/torchvision (the GPU machine's image has
# those), for a machine that reaches no package registry: benchmarks/gpu_check.sh installs
# from this folder with --no-index.
#   bash scripts/make_wheelhouse.sh [DIR] [PYTHON_VERSION]    (defaults: wheelhouse, 3.11)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-wheelhouse}
py=${2:-3.11}
mkdir -p "$out"
deps=(numpy pillow click tqdm torchmetrics cityscapesscripts pandas scipy torch-fidelity
      matplotlib pytest hypothesis lightning-utilities packaging typing-extensions)
# binary wheels for that Python on x86-64 Linux, with their own dependencies (torch excluded)
python3 -m pip download -q --only-binary=:all: --python-version "$py" \
  --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux_2_28_x86_64 --dest "$out" --no-deps "${deps[@]}"
python3 -m pip download -q --only-binary=:all: --dest "$out" --no-deps \
  python-dateutil pytz tzdata six contourpy cycler fonttools kiwisolver pyparsing \
  pyquaternion coloredlogs humanfriendly appdirs typing pluggy iniconfig sortedcontainers \
  attrs exceptiongroup tomli || true
python3 -m pip wheel -q --no-deps -w "$out" .
ls "$out" | wc -l
