#!/usr/bin/env bash
# Set up, then run the main job on the built-in synthcity data (CPU, under 10 minutes):
# `p2pbench demo` reproduces the receptive-field ablation (pix2pix Table 3: 1×1, 16×16, 70×70 and
# 286×286 PatchGANs × 2 seeds) on synthcity@v2 at 128 px, scores every run with the shipped
# segmenter, prints the table with intervals and writes an HTML report.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
OUT=${P2PBENCH_DEMO_OUT:-runs/demo}
rm -rf "$OUT"
p2pbench demo --out "$OUT" "$@"
