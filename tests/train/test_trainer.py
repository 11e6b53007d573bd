"""The reference trainer: losses, schedule, a learning run, and an exact resume after SIGKILL."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from p2pbench.data import build_dataset, collate_samples
from p2pbench.train import TrainConfig, build_models, lr_factor, train, train_step
from p2pbench.train.losses import gan_loss
from reference_models import load_generator, read_checkpoint, translate

TINY = dict(
    generator="unet32",
    discriminator="patch16",
    ngf=8,
    ndf=8,
    n_train=8,
    batch_size=2,
    log_every=1,
    sample_every=1000,
    checkpoint_every=1000,
)


def test_gan_losses_match_closed_forms() -> None:
    x = torch.tensor([-2.0, 0.0, 3.0])
    sigmoid = 1 / (1 + torch.exp(-x))
    torch.testing.assert_close(gan_loss(x, True, "vanilla"), -torch.log(sigmoid).mean())
    torch.testing.assert_close(gan_loss(x, False, "vanilla"), -torch.log(1 - sigmoid).mean())
    torch.testing.assert_close(gan_loss(x, True, "lsgan"), ((x - 1) ** 2).mean())
    torch.testing.assert_close(gan_loss(x, False, "lsgan"), (x**2).mean())
    with pytest.raises(ValueError, match="vanilla, lsgan"):
        gan_loss(x, True, "wgan")


def test_linear_decay_follows_the_port_rule() -> None:
    # 2 constant epochs, then 3 decay epochs: 1 - k/(3+1) for k = 1, 2, 3
    config = TrainConfig(epochs=5, decay_epochs=3, schedule="linear-decay")
    assert [lr_factor(config, e) for e in range(5)] == [1.0, 1.0, 0.75, 0.5, 0.25]
    assert all(lr_factor(TrainConfig(epochs=3), e) == 1.0 for e in range(3))
    with pytest.raises(ValueError, match="linear-decay"):
        TrainConfig(epochs=3, decay_epochs=1)


@pytest.mark.parametrize(
    "loss, d_channels", [("l1", None), ("gan", 3), ("cgan", 6), ("l1+gan", 3), ("l1+cgan", 6)]
)
def test_each_loss_builds_the_right_discriminator_and_steps(
    loss: str, d_channels: int | None
) -> None:
    config = TrainConfig(loss=loss, **TINY)
    m = build_models(config)
    if d_channels is None:
        assert m.discriminator is None
    else:
        first = next(p for p in m.discriminator.parameters() if p.ndim == 4)
        assert first.shape[1] == d_channels
    data = build_dataset("synthcity", "train", size=32, direction=None, seed=0, data_root=None, n=2)
    before = {k: v.clone() for k, v in m.generator.state_dict().items()}
    losses = train_step(config, m, collate_samples([data[0], data[1]]))
    assert ("g_gan" in losses) == (loss != "l1") and "l1" in losses
    assert all(math.isfinite(v) for v in losses.values())
    after = m.generator.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)


def _l1_on(generator: torch.nn.Module, n: int) -> float:
    data = build_dataset("synthcity", "train", size=32, direction=None, seed=0, data_root=None, n=n)
    batch = collate_samples([data[i] for i in range(n)])
    out = translate(generator, batch.input, mode="eval", sample_ids=batch.sample_ids)
    return (out - batch.target).abs().mean().item()


def test_a_tiny_run_lowers_the_l1_loss(tmp_path: Path) -> None:
    config = TrainConfig(loss="l1+cgan", max_steps=80, jitter=False, lr=1e-3, **TINY)
    before = _l1_on(build_models(config).generator, 8)
    checkpoint = train(config, tmp_path / "run", progress=False)
    generator, name = load_generator(checkpoint)
    after = _l1_on(generator, 8)
    assert name == "unet32"
    assert after < 0.7 * before, (before, after)
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [entry["step"] for entry in log] == list(range(1, 81))
    assert (tmp_path / "run" / "samples" / "step0000080.png").is_file()


def test_existing_run_needs_resume(tmp_path: Path) -> None:
    config = TrainConfig(max_steps=1, **TINY)
    train(config, tmp_path, progress=False)
    with pytest.raises(FileExistsError, match="--resume"):
        train(config, tmp_path, progress=False)
    with pytest.raises(ValueError, match="lambda_l1"):
        train(
            TrainConfig(max_steps=2, lambda_l1=10.0, **TINY), tmp_path, resume=True, progress=False
        )


def _cli(run: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "p2pbench",
        "train",
        "--gen",
        "unet32",
        "--disc",
        "patch16",
        "--ngf",
        "8",
        "--ndf",
        "8",
        "--n-train",
        "8",
        "--batch-size",
        "2",
        "--max-steps",
        "40",
        "--checkpoint-every",
        "5",
        "--sample-every",
        "1000",
        "--log-every",
        "1",
        "--quiet",
        "--out",
        str(run),
        *extra,
    ]


@pytest.mark.slow
def test_sigkill_then_resume_equals_an_uninterrupted_run(
    tmp_path: Path, logged_losses: Callable[[Path], list[dict[str, object]]]
) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run(_cli(tmp_path / "whole"), check=True, env=env, capture_output=True)

    run = tmp_path / "killed"
    proc = subprocess.Popen(
        _cli(run), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 120
    while not (run / "checkpoint.pt").exists():
        assert proc.poll() is None and time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL
    killed_at = read_checkpoint(run / "checkpoint.pt")["step"]
    assert 5 <= killed_at < 40, "the run finished before it could be killed"

    subprocess.run(_cli(run, "--resume"), check=True, env=env, capture_output=True)
    whole = read_checkpoint(tmp_path / "whole" / "checkpoint.pt")
    resumed = read_checkpoint(run / "checkpoint.pt")
    assert resumed["step"] == whole["step"] == 40
    for section in ("generator", "discriminator"):
        a, b = whole[section]["state_dict"], resumed[section]["state_dict"]
        assert all(torch.equal(a[k], b[k]) for k in a), f"{section} weights differ"
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [entry["step"] for entry in log] == list(range(1, 41))
    assert logged_losses(run) == logged_losses(tmp_path / "whole")
