"""The trainer's fast paths (channels-last, fused Adam, bf16, workers, compile) against the
plain paths they replace: the same batches, the same numbers within stated tolerances, and
resuming stays exact with every fast path on."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from p2pbench import compute
from p2pbench.train import TrainConfig, build_models, train, train_step
from p2pbench.train.batches import StepBatches, batches
from p2pbench.train.trainer import training_data
from reference_models import read_checkpoint

TINY = dict(
    generator="unet32",
    discriminator="patch16",
    ngf=8,
    ndf=8,
    n_train=6,
    batch_size=2,
    log_every=1,
    sample_every=1000,
    checkpoint_every=1000,
)


def _weights(run: Path) -> dict[str, torch.Tensor]:
    data = read_checkpoint(run / "checkpoint.pt")
    return {
        f"{section}.{k}": v
        for section in ("generator", "discriminator")
        for k, v in data[section]["state_dict"].items()
    }


def test_worker_processes_build_the_batches_of_the_main_process() -> None:
    config = TrainConfig(**TINY)  # type: ignore[arg-type]
    steps = StepBatches(training_data(config), seed=3, batch_size=4)  # 6 samples: 4 + 2
    here = list(batches(steps, 1, 6))  # crosses two epoch boundaries
    there = list(batches(steps, 1, 6, workers=2))
    assert [len(b) for b, _ in here] == [2, 4, 2, 4, 2]
    for (a, na), (b, nb) in zip(here, there, strict=True):
        assert na == nb and a.sample_ids == b.sample_ids
        assert torch.equal(a.input, b.input) and torch.equal(a.target, b.target)
    # the jitter differs between epochs: the same sample is drawn differently
    first = {sid: i for i, sid in enumerate(here[1][0].sample_ids)}  # epoch 1
    again = {sid: i for i, sid in enumerate(here[3][0].sample_ids)}  # epoch 2
    common = sorted(set(first) & set(again))
    assert common
    sid = common[0]
    assert not torch.equal(here[1][0].input[first[sid]], here[3][0].input[again[sid]])


def test_a_run_with_workers_is_the_run_without(tmp_path: Path) -> None:
    base = TrainConfig(max_steps=4, **TINY)  # type: ignore[arg-type]
    train(base, tmp_path / "here", progress=False)
    train(dataclasses.replace(base, workers=2), tmp_path / "there", progress=False)
    a, b = _weights(tmp_path / "here"), _weights(tmp_path / "there")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_resume_is_exact_with_every_fast_path_on(
    tmp_path: Path, logged_losses: Callable[[Path], list[dict[str, object]]]
) -> None:
    fast = dict(precision="bf16", channels_last=True, workers=1, **TINY)
    train(TrainConfig(max_steps=4, **fast), tmp_path / "whole", progress=False)  # type: ignore[arg-type]
    train(TrainConfig(max_steps=2, **fast), tmp_path / "split", progress=False)  # type: ignore[arg-type]
    train(TrainConfig(max_steps=4, **fast), tmp_path / "split", resume=True, progress=False)  # type: ignore[arg-type]
    a, b = _weights(tmp_path / "whole"), _weights(tmp_path / "split")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert logged_losses(tmp_path / "whole") == logged_losses(tmp_path / "split")
    assert read_checkpoint(tmp_path / "split" / "checkpoint.pt")["run"]["precision"] == "bf16"


def _one_step(config: TrainConfig) -> tuple[dict[str, float], dict[str, torch.Tensor]]:
    """The losses of a first step, and the gradients it computed before any weight moved:
    D's (its step comes first) and, for the L1-only loss, G's."""
    torch.manual_seed(0)
    m = build_models(config)
    batch, _ = StepBatches(training_data(config), seed=0, batch_size=config.batch_size)[0]
    losses = train_step(config, m, batch)
    net = m.discriminator if m.discriminator is not None else m.generator
    grads = {n: p.grad.detach().clone() for n, p in net.named_parameters()}  # type: ignore[union-attr]
    return losses, grads


@pytest.mark.parametrize("loss", ["l1+cgan", "l1"])
def test_channels_last_computes_what_nchw_computes(loss: str) -> None:
    """Dropout masks are drawn in NCHW order, so only summation order differs. (G's gradients
    of the GAN loss pass through D after its Adam step, whose first update is ±lr even for a
    gradient at rounding level: they are compared through the L1-only loss instead.)"""
    nchw = TrainConfig(channels_last=False, loss=loss, **TINY)  # type: ignore[arg-type]
    losses_a, grads_a = _one_step(nchw)
    losses_b, grads_b = _one_step(dataclasses.replace(nchw, channels_last=True))
    for k, v in losses_a.items():  # float32 sums in another order: a few ulps
        assert losses_b[k] == pytest.approx(v, rel=1e-5), k
    for n, g in grads_a.items():
        atol = 1e-5 * float(g.abs().max())
        torch.testing.assert_close(grads_b[n], g, rtol=1e-4, atol=atol, msg=n)


def test_bf16_losses_are_near_the_fp32_losses() -> None:
    """bf16 keeps 8 bits of mantissa: the first step's losses within 2 % of fp32's."""
    fp32 = TrainConfig(**TINY)  # type: ignore[arg-type]
    losses_a, _ = _one_step(fp32)
    losses_b, grads_b = _one_step(dataclasses.replace(fp32, precision="bf16"))
    for k, v in losses_a.items():
        assert losses_b[k] == pytest.approx(v, rel=0.02), k
    assert all(g.dtype == torch.float32 for g in grads_b.values())  # fp32 master weights


def test_fused_adam_takes_the_plain_adam_step() -> None:
    torch.manual_seed(0)
    w = torch.randn(64, 32)
    grads = [torch.randn(64, 32) for _ in range(3)]
    results = []
    for make in (
        lambda p: compute.adam([p], lr=1e-3, betas=(0.5, 0.999), device="cpu"),
        lambda p: torch.optim.Adam([p], lr=1e-3, betas=(0.5, 0.999), foreach=False),
    ):
        p = torch.nn.Parameter(w.clone())
        opt = make(p)
        for g in grads:
            p.grad = g.clone()
            opt.step()
        results.append(p.detach())
    torch.testing.assert_close(results[0], results[1], rtol=1e-6, atol=1e-7)
    assert compute.fused_optimizer_supported("cpu") == bool(
        compute.adam([torch.nn.Parameter(w)], lr=1e-3, betas=(0.5, 0.999), device="cpu").defaults[
            "fused"
        ]
    )


def test_the_log_records_seconds_per_step_and_images_per_second(tmp_path: Path) -> None:
    train(TrainConfig(max_steps=3, **TINY), tmp_path / "run", progress=False)  # type: ignore[arg-type]
    lines = [json.loads(x) for x in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [x["step"] for x in lines] == [1, 2, 3]
    for x in lines:
        assert x["s_per_step"] > 0
        assert x["images_per_s"] == pytest.approx(TINY["batch_size"] / x["s_per_step"], rel=1e-2)


def test_options_that_only_change_the_speed_may_change_on_resume(tmp_path: Path) -> None:
    train(TrainConfig(max_steps=1, **TINY), tmp_path, progress=False)  # type: ignore[arg-type]
    faster = TrainConfig(max_steps=2, workers=1, channels_last=False, **TINY)  # type: ignore[arg-type]
    train(faster, tmp_path, resume=True, progress=False)
    other = TrainConfig(max_steps=3, precision="bf16", **TINY)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="precision"):
        train(other, tmp_path, resume=True, progress=False)


@pytest.mark.slow
def test_compile_trains_the_same_networks(tmp_path: Path) -> None:
    """torch.compile in place: the checkpoint's keys are the eager run's, its weights near.
    (Without dropout: compiled code draws its masks from its own random stream.)"""
    base = TrainConfig(max_steps=2, dropout=False, **TINY)  # type: ignore[arg-type]
    train(base, tmp_path / "eager", progress=False)
    train(dataclasses.replace(base, compile=True), tmp_path / "compiled", progress=False)
    a, b = _weights(tmp_path / "eager"), _weights(tmp_path / "compiled")
    assert a.keys() == b.keys()
    for k in a:  # two Adam steps of lr 2e-4: fused kernels may flip a near-zero gradient
        torch.testing.assert_close(b[k], a[k], rtol=0, atol=4 * TrainConfig.lr + 1e-6, msg=k)
