#!/usr/bin/env bash
# CI's packaging check: build p2pbench's wheel, install it into a fresh virtual environment and,
# from a directory outside the source tree, score an in-memory module with `p2pbench.evaluate`
# and render `p2pbench table ... --reference pix2pix-2017:table3` (package data only).
# The fresh environment borrows the heavy dependencies (torch, ...) from .venv through a path
# entry, which puts them on sys.path without running .venv's editable-install hook, so only
# the wheel's p2pbench, fcn and reference_models can be imported.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
.venv/bin/python -m pip wheel -q --no-deps . -w "$WORK/dist" >/dev/null
python3 -m venv "$WORK/env"
"$WORK/env/bin/python" -m pip install -q --no-deps "$WORK"/dist/p2pbench-*.whl
deps=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
site=$("$WORK/env/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
echo "$deps" > "$site/zz-borrowed-dependencies.pth"
cd "$WORK"
"$WORK/env/bin/python" - <<'PY'
import pathlib

import torch

import p2pbench
from reference_models import build_generator

root = pathlib.Path(p2pbench.__file__).resolve()
assert "site-packages" in root.parts, f"p2pbench imported from {root}, not from the wheel"
module = build_generator("unet128", seed=0, ngf=8)  # synthcity (v2) is 128 px
module.train()
state = torch.get_rng_state()
result = p2pbench.evaluate(
    module,
    protocol="synthcity",
    score=p2pbench.ScoreSpec(limit=8, metrics=("fcn", "paired")),
    run=p2pbench.RunSpec(progress=False),
)
assert module.training and torch.equal(state, torch.get_rng_state())
assert 0.0 <= result.metrics["per_pixel_acc"] <= 1.0 and result.source["format"] == "module"
result.write("result.json")
print(f"in-memory module scored from the wheel: per-pixel acc {result.metrics['per_pixel_acc']:.4f}")
PY
"$WORK/env/bin/p2pbench" table result.json --reference pix2pix-2017:table3
echo "wheel check passed (outside $ROOT)"
