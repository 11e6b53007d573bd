#!/usr/bin/env bash
# Set up, then run the main job on the built-in synthcity data (CPU, a few minutes):
# train a pix2pix model (U-Net 64 + 70×70 PatchGAN, L1 + cGAN) for a few hundred steps,
# score it and the real photos with FCN-score on the `synthcity` protocol, and print the table.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
OUT=${P2PBENCH_DEMO_OUT:-runs/demo}
STEPS=${P2PBENCH_DEMO_STEPS:-300}
rm -rf "$OUT"
p2pbench data synth --out "$OUT/synthcity" --size 64 --n-train 400 --n-val 100 --seed 0
p2pbench train --data "$OUT/synthcity" --size 64 --gen unet64 --disc patch70 \
  --max-steps "$STEPS" --sample-every 100 --checkpoint-every 100 --out "$OUT/run"
p2pbench eval --gen "$OUT/run/checkpoint.pt" --data synthcity --out "$OUT/trained.json"
p2pbench generate --gen "$OUT/run/checkpoint.pt" --data synthcity --out "$OUT/generated"
p2pbench eval --images "$OUT/generated" --data synthcity --out "$OUT/from-images.json" --quiet
p2pbench eval --real --data synthcity --out "$OUT/real.json" --quiet
p2pbench table "$OUT/real.json" "$OUT/trained.json"
echo "demo finished: sample grids in $OUT/run/samples, results in $OUT/*.json"
