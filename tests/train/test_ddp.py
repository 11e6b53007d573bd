"""Training on several processes: one DDP step equals its single-process reference, rank 0
writes a checkpoint that records the world size, and a run resumes under another world size."""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from p2pbench import compute
from p2pbench.data import Batch, build_dataset, collate_samples
from p2pbench.distributed import shard_range
from p2pbench.train import TrainConfig, build_models, ddp, train, train_step
from p2pbench.train.losses import gan_loss, l1_loss
from p2pbench.train.trainer import epoch_order
from reference_models import build_generator, load_generator, read_checkpoint

STEP = dict(
    data="synthcity@v1",  # the data the tolerances below were measured on
    generator="unet32",
    discriminator="patch16",
    ngf=8,
    ndf=8,
    n_train=4,
    dropout=False,  # the reference below then needs no copy of each rank's random stream
    jitter=False,
)
# One DDP step against the reference, float32 throughout. Gradients differ by rounding only
# (losses scaled per rank, means over other sample groups, the all-reduce's order): measured
# up to 2e-5 of a tensor's largest entry (D's output bias, a sum of cancelling terms, with
# unequal shards). Adam's first step moves each weight by lr·g/(|g| + eps) ≈ ±lr = 2e-4, so
# the weights then agree to ~1e-9, up to 2.2e-7 where |g| is near eps; a wrong weighting of
# the shards would show as gradients off by tens of percent.
GRAD_RTOL, GRAD_ATOL_FRACTION = 1e-4, 1e-5  # atol: this fraction of the tensor's largest |entry|
WEIGHT_ATOL = 1e-6


def _dataset(config: TrainConfig):  # type: ignore[no-untyped-def]
    return build_dataset(
        config.data,
        "train",
        size=32,
        direction=None,
        seed=config.data_seed,
        data_root=None,
        n=config.n_train,
        transform=None,
        labels=False,
        transform_seed=config.seed,
    )


def _step_worker(rank: int, world: int, init: str, out: str, global_batch: int) -> None:
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    try:
        config = TrainConfig(batch_size=global_batch, **STEP)  # type: ignore[arg-type]
        torch.manual_seed(ddp.dropout_seed(config.seed, rank))  # as `train` does
        m = build_models(config)
        m.train_generator = ddp.distributed(m.generator, sync_bn=False)
        m.train_discriminator = ddp.distributed(m.discriminator, sync_bn=False)  # type: ignore[arg-type]
        data = _dataset(config)
        indices = epoch_order(config.seed, 0, len(data))[:global_batch]
        mine = [indices[i] for i in shard_range(len(indices), rank, world)]
        losses = train_step(
            config, m, collate_samples([data[i] for i in mine]), global_batch=len(indices)
        )
        try:  # SyncBatchNorm is GPU-only in torch: refused up front on CPU
            train(TrainConfig(sync_bn=True, max_steps=1, **STEP), Path(out).parent / "sync")  # type: ignore[arg-type]
            sync_error = ""
        except ValueError as e:
            sync_error = str(e)
        if rank == 0:
            torch.save(
                {
                    "losses": losses,
                    "sync_error": sync_error,
                    **{
                        f"{name}_{kind}": {
                            n: (p.grad if kind == "grad" else p).detach().clone()
                            for n, p in module.named_parameters()
                        }
                        for name, module in (("g", m.generator), ("d", m.discriminator))
                        for kind in ("grad", "weight")
                    },
                },
                out,
            )
    finally:
        dist.destroy_process_group()


def _as_trainer_feeds(batch: Batch) -> Batch:
    """The batch in the memory format `train_step` feeds the networks (same kernels)."""
    cl = TrainConfig.channels_last
    return dataclasses.replace(
        batch,
        input=compute.to_memory_format(batch.input, cl),
        target=compute.to_memory_format(batch.target, cl),
    )


def _reference_step(global_batch: int, world: int) -> dict[str, object]:
    """One step on one process: each rank's shard as its own batch (its own batch-norm
    statistics), every loss weighted by the shard's share of the global batch, gradients
    accumulated: the mean loss over the global batch, as DDP is meant to compute it."""
    config = TrainConfig(batch_size=global_batch, **STEP)  # type: ignore[arg-type]
    torch.manual_seed(config.seed)
    m = build_models(config)
    g, d = m.generator, m.discriminator
    assert d is not None and m.optimizer_d is not None
    g.train(), d.train()
    data = _dataset(config)
    indices = epoch_order(config.seed, 0, len(data))[:global_batch]
    shards = [[indices[i] for i in shard_range(global_batch, r, world)] for r in range(world)]
    batches = [_as_trainer_feeds(collate_samples([data[i] for i in shard])) for shard in shards]
    weights = [len(shard) / global_batch for shard in shards]
    fakes = [g(b.input) for b in batches]
    losses = dict.fromkeys(("d_fake", "d_real", "g_gan", "l1"), 0.0)

    d.requires_grad_(True)
    m.optimizer_d.zero_grad(set_to_none=True)
    for b, fake, w in zip(batches, fakes, weights, strict=True):
        fake_loss = gan_loss(d(torch.cat([b.input, fake.detach()], 1)), False, "vanilla")
        real_loss = gan_loss(d(torch.cat([b.input, b.target], 1)), True, "vanilla")
        (w * 0.5 * (fake_loss + real_loss)).backward()
        losses["d_fake"] += w * fake_loss.item()
        losses["d_real"] += w * real_loss.item()
    m.optimizer_d.step()
    d.requires_grad_(False)

    m.optimizer_g.zero_grad(set_to_none=True)
    for b, fake, w in zip(batches, fakes, weights, strict=True):
        l1 = l1_loss(fake, b.target)
        g_gan = gan_loss(d(torch.cat([b.input, fake], 1)), True, "vanilla")
        (w * (config.lambda_l1 * l1 + g_gan)).backward()
        losses["g_gan"] += w * g_gan.item()
        losses["l1"] += w * l1.item()
    m.optimizer_g.step()
    return {
        "losses": losses,
        **{
            f"{name}_{kind}": {
                n: (p.grad if kind == "grad" else p).detach().clone()
                for n, p in module.named_parameters()
            }
            for name, module in (("g", g), ("d", d))
            for kind in ("grad", "weight")
        },
    }


@pytest.mark.slow
@pytest.mark.parametrize("global_batch", [2, 3])  # 1 + 1 samples; 1 + 2 (unequal shards)
def test_one_ddp_step_equals_the_single_process_reference(
    tmp_path: Path, global_batch: int
) -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    out = tmp_path / "ddp.pt"
    init = f"file://{tmp_path / 'init'}"
    mp.spawn(_step_worker, args=(2, init, str(out), global_batch), nprocs=2)
    got = torch.load(out, weights_only=True)
    want = _reference_step(global_batch, 2)
    assert "--sync-bn needs CUDA" in got["sync_error"]
    assert got["losses"].keys() == want["losses"].keys()  # type: ignore[attr-defined]
    for k, v in want["losses"].items():  # type: ignore[attr-defined]
        assert got["losses"][k] == pytest.approx(v, rel=1e-6), k
    for key in ("g_grad", "d_grad"):
        for name, expected in want[key].items():  # type: ignore[attr-defined]
            atol = GRAD_ATOL_FRACTION * float(expected.abs().max())
            torch.testing.assert_close(
                got[key][name], expected, rtol=GRAD_RTOL, atol=atol, msg=f"{key} {name}"
            )
    for net in ("g", "d"):
        for name, expected in want[f"{net}_weight"].items():  # type: ignore[attr-defined]
            grad = want[f"{net}_grad"][name]  # type: ignore[index]
            grad_tol = GRAD_ATOL_FRACTION * grad.abs().max() + GRAD_RTOL * grad.abs()
            tol = WEIGHT_ATOL + _adam_first_step_spread(grad, grad_tol)
            diff = (got[f"{net}_weight"][name] - expected).abs()
            assert bool((diff <= tol).all()), f"{net} {name}: {float((diff - tol).max())} over"


def _adam_first_step_spread(grad: torch.Tensor, grad_tol: torch.Tensor) -> torch.Tensor:
    """How far Adam's first update lr·g/(|g| + ε) may move when g moves by up to `grad_tol`:
    its derivative is lr·ε/(|g| + ε)², so a gradient near 0 (|g| ≲ ε) may flip the step's sign,
    and one far from 0 barely moves it. Bounded by the largest change, 2·lr."""
    lr, eps = TrainConfig.lr, 1e-8
    nearest = (grad.abs() - grad_tol).clamp(min=0)
    return (lr * grad_tol * eps / (nearest + eps) ** 2).clamp(max=2 * lr)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _train_cli(run: Path, n: int, *extra: str) -> subprocess.CompletedProcess[str]:
    launcher = (
        ["-m", "torch.distributed.run", f"--nproc_per_node={n}", f"--master_port={_free_port()}"]
        if n > 1
        else []
    )
    command = [
        sys.executable,
        *launcher,
        "-m",
        "p2pbench",
        "train",
        *("--gen", "unet32", "--disc", "patch16", "--ngf", "8", "--ndf", "8"),
        *("--n-train", "8", "--batch-size", "2", "--log-every", "1", "--quiet"),
        *("--out", str(run)),
        *extra,
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def _log_steps(run: Path) -> list[int]:
    lines = (run / "log.jsonl").read_text().splitlines()
    return [json.loads(line)["step"] for line in lines]


@pytest.mark.slow
def test_two_processes_write_one_checkpoint_and_resume_on_one(tmp_path: Path) -> None:
    run = tmp_path / "run"
    every = ("--checkpoint-every", "2", "--sample-every", "2")
    proc = _train_cli(run, 2, "--max-steps", "4", *every)
    assert proc.stdout.count("checkpoint:") == 1  # rank 0 alone prints
    data = read_checkpoint(run / "checkpoint.pt")
    assert data["step"] == 4 and data["world_size"] == 2
    assert len(data["rng_by_rank"]) == 2
    assert not torch.equal(data["rng_by_rank"][0]["torch"], data["rng_by_rank"][1]["torch"])
    generator, name = load_generator(run / "checkpoint.pt")
    assert name == "unet32"
    assert _log_steps(run) == [1, 2, 3, 4]
    assert sorted(p.name for p in (run / "samples").iterdir()) == [
        "step0000002.png",
        "step0000004.png",
    ]
    assert sorted(p.name for p in run.iterdir()) == [
        "checkpoint.pt",
        "config.json",
        "log.jsonl",
        "samples",
    ]  # no temporary files left by other ranks

    _train_cli(run, 1, "--resume", "--max-steps", "6", *every)
    resumed = read_checkpoint(run / "checkpoint.pt")
    assert resumed["step"] == 6 and resumed["world_size"] == 1
    assert _log_steps(run) == [1, 2, 3, 4, 5, 6]  # continued from step 4, nothing redone
    adam = resumed["optimizers"]["generator"]["state"]
    assert all(float(s["step"]) == 6 for s in adam.values())  # Adam's state went on too
    before = data["generator"]["state_dict"]
    after = resumed["generator"]["state_dict"]
    assert any(not torch.equal(before[k], after[k]) for k in before)


@pytest.mark.slow
def test_a_resume_under_the_same_world_size_is_exact(
    tmp_path: Path, logged_losses: Callable[[Path], list[dict[str, object]]]
) -> None:
    """Every rank restores its own random stream (dropout is on): 2 + 2 steps equal 4."""
    _train_cli(tmp_path / "whole", 2, "--max-steps", "4")
    _train_cli(tmp_path / "split", 2, "--max-steps", "2")
    _train_cli(tmp_path / "split", 2, "--max-steps", "4", "--resume")
    whole = read_checkpoint(tmp_path / "whole" / "checkpoint.pt")
    split = read_checkpoint(tmp_path / "split" / "checkpoint.pt")
    for section in ("generator", "discriminator"):
        a, b = whole[section]["state_dict"], split[section]["state_dict"]
        assert all(torch.equal(a[k], b[k]) for k in a), f"{section} weights differ"
    assert logged_losses(tmp_path / "whole") == logged_losses(tmp_path / "split")


def test_the_global_batch_must_give_every_process_a_sample() -> None:
    ddp.check_batch_split(1, 10, 1, whole_epoch=True)  # one process: anything goes
    ddp.check_batch_split(4, 10, 2, whole_epoch=True)  # last batch: 2 samples, one each
    with pytest.raises(ValueError, match="at least 2"):
        ddp.check_batch_split(1, 10, 2, whole_epoch=True)
    with pytest.raises(ValueError, match="last batch of every epoch holds 1"):
        ddp.check_batch_split(3, 10, 2, whole_epoch=True)
    ddp.check_batch_split(3, 10, 2, whole_epoch=False)  # the run stops before the last batch


def test_rank_zero_keeps_the_run_seed() -> None:
    assert ddp.dropout_seed(7, 0) == 7
    seeds = {ddp.dropout_seed(7, r, s) for r in range(3) for s in (0, 10)}
    assert len(seeds) == 6


def test_sync_batchnorm_copy_trains_the_original_module() -> None:
    g = build_generator("unet32", seed=0, ngf=4)
    sync = ddp.shared_sync_batchnorm(g)
    assert any(isinstance(x, torch.nn.SyncBatchNorm) for x in sync.modules())
    assert not any(isinstance(x, torch.nn.SyncBatchNorm) for x in g.modules())
    params = dict(g.named_parameters())
    assert all(p is params[n] for n, p in sync.named_parameters())
    buffers = dict(g.named_buffers())
    assert all(b is buffers[n] for n, b in sync.named_buffers())
    before = {n: b.clone() for n, b in buffers.items()}
    sync.train()
    sync(torch.randn(2, 3, 32, 32)).mean().backward()  # no process group: plain batch norm
    assert all(p.grad is not None for p in g.parameters())
    assert any(not torch.equal(before[n], b) for n, b in g.named_buffers())


def test_sync_bn_needs_batch_norm() -> None:
    with pytest.raises(ValueError, match="sync_bn"):
        TrainConfig(sync_bn=True, norm="instance")
