"""Ablations and process groups: the batch split is checked before any run trains, and the
SLURM launcher is never started once per process."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from p2pbench.ablation import PLANS, AblationOptions, plan_runs, plans
from p2pbench.cli import ablate
from p2pbench.cli.main import main

OPTIONS = dict(protocol="synthcity@v1", ngf=4, ndf=4)


@pytest.fixture
def two_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plans, "rank_and_world", lambda: (0, 2))
    monkeypatch.setattr(ablate, "rank_and_world", lambda: (0, 2))


@pytest.mark.usefixtures("two_processes")
@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"batch_size": 1, "steps": 2}, "must be at least 2"),
        ({"batch_size": 4, "n_train": 9, "epochs": 1}, "the last batch of every epoch holds 1"),
    ],
)
def test_a_batch_split_the_processes_cannot_share_is_refused_up_front(
    changes: dict, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        plan_runs(PLANS.get("receptive-field"), AblationOptions(**{**OPTIONS, **changes}))
    ok = {**OPTIONS, "batch_size": 4, "n_train": 10, "epochs": 1}  # last batch: 2 images
    assert plan_runs(PLANS.get("receptive-field"), AblationOptions(**ok)).runs


@pytest.mark.usefixtures("two_processes")
def test_the_slurm_launcher_is_refused_under_torchrun(tmp_path: Path) -> None:
    args = ["ablate", "receptive-field", "--launcher", "slurm", "--slurm-partition", "gpu"]
    result = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "x"), "--dry-run"])
    assert result.exit_code == 2 and "not under torchrun" in result.output
