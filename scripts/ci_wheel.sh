#!/usr/bin/env bash
# CI's packaging check: build p2pbench's wheel, check that it holds the LICENSE, the py.typed
# markers and every file the package data in pyproject.toml names, install it into a fresh
# virtual environment and,
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
# the wheel's contents: the licence, the version, the py.typed markers and all package data
.venv/bin/python - "$WORK"/dist/p2pbench-*.whl <<'PY'
import fnmatch
import pathlib
import re
import sys
import zipfile

try:
    import tomllib
except ImportError:  # Python 3.10: pip's own copy of the same parser
    from pip._vendor import tomli as tomllib

wheel = pathlib.Path(sys.argv[1])
names = set(zipfile.ZipFile(wheel).namelist())
config = tomllib.loads(pathlib.Path("pyproject.toml").read_text(encoding="utf-8"))
version = re.search(r'__version__ = "(.+)"', pathlib.Path("p2pbench/_version.py").read_text())
dist_info = f"p2pbench-{version.group(1)}.dist-info"
expected = {f"{dist_info}/licenses/LICENSE", f"{dist_info}/METADATA"}
for package in ("p2pbench", "fcn", "reference_models"):
    expected.add(f"{package}/py.typed")
for package, patterns in config["tool"]["setuptools"]["package-data"].items():
    folder = pathlib.Path(*package.split("."))
    for pattern in patterns:
        found = sorted(folder.glob(pattern))
        assert found, f"package data {package}: {pattern} matches no file in the source tree"
        expected.update(p.as_posix() for p in found)
missing = sorted(expected - names)
assert not missing, f"{wheel.name} lacks {missing}"
licence = zipfile.ZipFile(wheel).read(f"{dist_info}/licenses/LICENSE").decode()
assert licence == pathlib.Path("LICENSE").read_text(encoding="utf-8"), "LICENSE differs"
data = [n for n in names if not n.endswith(".py") and not n.startswith(dist_info)]
stray = sorted(n for n in data if not any(fnmatch.fnmatch(n, e) for e in expected))
print(f"{wheel.name}: LICENSE, py.typed and {len(expected) - 5} package data files present")
if stray:
    print(f"  (also non-Python files not declared as package data: {stray})")
PY
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
assert result.provenance["versions"]["code_version"] == p2pbench.__version__  # no git checkout
result.write("result.json")
print(f"in-memory module scored from the wheel: per-pixel acc {result.metrics['per_pixel_acc']:.4f}")
PY
"$WORK/env/bin/p2pbench" table result.json --reference pix2pix-2017:table3
echo "wheel check passed (outside $ROOT)"
