#!/usr/bin/env bash
# CI's end-to-end regression check: a tiny fixed-seed pipeline on synthcity@v2 at 128 px
# (train → eval), compared with the baseline committed in reports/baselines/ by `p2pbench check`.
# Refresh the baseline after an intended change: bash scripts/ci_pipeline.sh --update-baseline
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${P2PBENCH_CI_WORK:-$(mktemp -d)}
BASELINE=reports/baselines/ci-synthcity.json
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
p2pbench train --data synthcity --size 128 --gen unet128 --disc patch70 --ngf 16 --ndf 16 \
  --n-train 64 --max-steps 60 --batch-size 4 --seed 0 --checkpoint-every 60 --sample-every 60 \
  --quiet --out "$WORK/run"
p2pbench eval --gen "$WORK/run/checkpoint.pt" --data synthcity --limit 32 --quiet \
  --out "$WORK/result.json" > /dev/null
# Tolerances absorb float differences between CPUs and library versions, not regressions.
p2pbench check "$WORK/result.json" --baseline "$BASELINE" \
  --tol per_pixel_acc=0.03 --tol per_class_acc=0.03 --tol class_iou=0.03 \
  --tol l1=0.01 --tol psnr=0.5 --tol ssim=0.02 \
  --junit "$WORK/junit.xml" "$@"
