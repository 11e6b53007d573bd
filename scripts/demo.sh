#!/usr/bin/env bash
# Set up, then run the main job on the built-in synthcity dataset (CPU, a few minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
OUT=${P2PBENCH_DEMO_OUT:-runs/demo}
p2pbench models
p2pbench data synth --out "$OUT/synthcity" --size 64 --n-train 64 --n-val 16 --seed 0
echo "demo finished: outputs in $OUT"
