"""A loss that becomes NaN or infinite stops training with an error that names the step, the
loss term and the last good checkpoint, which keeps its finite weights."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

import p2pbench.train.trainer as trainer
from p2pbench.cli import main
from p2pbench.cli.errors import EXIT_BAD_INPUT
from p2pbench.train import NonFiniteLossError, TrainConfig, train
from reference_models import read_checkpoint

TINY = dict(
    generator="unet32",
    discriminator="patch16",
    ngf=4,
    ndf=4,
    n_train=4,
    batch_size=1,
    log_every=1,
    sample_every=1000,
    checkpoint_every=2,
)


def nan_from_call(monkeypatch: pytest.MonkeyPatch, name: str, first_bad_call: int) -> None:
    """Make trainer's loss function `name` return NaN from its `first_bad_call`-th call on."""
    original = getattr(trainer, name)
    calls = 0

    def patched(*args: object, **kwargs: object) -> torch.Tensor:
        nonlocal calls
        calls += 1
        loss = original(*args, **kwargs)
        return loss * math.nan if calls >= first_bad_call else loss

    monkeypatch.setattr(trainer, name, patched)


def test_nan_stops_the_run_and_keeps_the_last_good_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nan_from_call(monkeypatch, "l1_loss", 5)  # one l1 call per step: step 5
    run = tmp_path / "run"
    with pytest.raises(NonFiniteLossError) as info:
        train(TrainConfig(max_steps=8, **TINY), run, progress=False)  # type: ignore[arg-type]
    error = info.value
    assert isinstance(error, ValueError)  # the CLI maps it to exit 2
    assert error.step == 5 and math.isnan(error.terms["l1"])
    message = str(error)
    assert "step 5" in message and "l1 = nan" in message
    assert f"{run / 'checkpoint.pt'} (step 4)" in message
    data = read_checkpoint(run / "checkpoint.pt")
    assert data["step"] == 4  # not overwritten by the failed step
    for section in ("generator", "discriminator"):
        weights = data[section]["state_dict"].values()
        assert all(torch.isfinite(w).all() for w in weights if w.is_floating_point())
    log_steps = [line for line in (run / "log.jsonl").read_text().splitlines() if line]
    assert len(log_steps) == 4 and "NaN" not in "".join(log_steps)


def test_an_infinite_discriminator_loss_before_any_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = trainer.gan_loss

    def infinite(prediction: torch.Tensor, target_is_real: bool, mode: str) -> torch.Tensor:
        loss = original(prediction, target_is_real, mode)
        return loss + math.inf if not target_is_real else loss  # D's loss on fakes

    monkeypatch.setattr(trainer, "gan_loss", infinite)
    with pytest.raises(NonFiniteLossError, match="step 1: d_fake = inf;") as info:
        train(TrainConfig(max_steps=3, **TINY), tmp_path / "run", progress=False)  # type: ignore[arg-type]
    assert "no checkpoint had been written yet" in str(info.value)
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


def test_the_command_line_exits_2_with_the_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nan_from_call(monkeypatch, "l1_loss", 3)
    args = ["train", "--gen", "unet32", "--disc", "patch16", "--ngf", "4", "--ndf", "4"]
    args += ["--n-train", "4", "--max-steps", "5", "--checkpoint-every", "2", "--quiet"]
    res = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "run")])
    assert res.exit_code == EXIT_BAD_INPUT, res.output
    assert "non-finite loss at step 3: l1 = nan" in res.output
    assert "(step 2)" in res.output
    assert isinstance(res.exception, SystemExit)  # a message, no traceback
