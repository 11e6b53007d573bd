"""`p2pbench demo`, the README's main job, end to end at a toy length."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from p2pbench.cli import main

pytestmark = pytest.mark.slow


def test_demo_runs_the_receptive_field_ablation_and_writes_a_report(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    args = ["demo", "--out", str(out), "--steps", "2", "--seeds", "0", "--ngf", "4", "--quiet"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    for label in ("1×1", "16×16", "70×70", "286×286", "Ground truth"):
        assert f"| {label} |" in res.output, label
    assert "demo wall time" in res.output
    report = out / "report.html"
    assert report.is_file() and "286×286" in report.read_text(encoding="utf-8")
    assert sorted(p.name for p in (out / "runs").iterdir()) == [
        "patch1-seed0",
        "patch16-seed0",
        "patch286-seed0",
        "patch70-seed0",
    ]
    # a second demo in the same folder skips every finished run
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 0 and "4 of 4 runs already finished" in again.output
