#!/usr/bin/env bash
# One-step set-up: a virtual environment in .venv with p2pbench and its test tools installed.
# With P2PBENCH_CONSTRAINTS=FILE (CI sets constraints/ci.txt), every package is installed at the
# version FILE pins; without it, the newest versions pyproject.toml allows.
set -euo pipefail
constraints=()
if [ -n "${P2PBENCH_CONSTRAINTS:-}" ]; then
  if [ ! -f "$P2PBENCH_CONSTRAINTS" ]; then
    echo "P2PBENCH_CONSTRAINTS=$P2PBENCH_CONSTRAINTS: no such file (from $(pwd))" >&2
    exit 2
  fi
  constraints=(-c "$(cd "$(dirname "$P2PBENCH_CONSTRAINTS")" && pwd)/$(basename "$P2PBENCH_CONSTRAINTS")")
fi
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip ${constraints[@]+"${constraints[@]}"} >/dev/null
.venv/bin/python -m pip install -q -e '.[test]' ${constraints[@]+"${constraints[@]}"}
