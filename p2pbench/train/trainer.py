"""The reference pix2pix training loop, readable top to bottom.

One step: G translates the input; D takes one step on (input, target) as real and
(input, G(input)) as fake, its loss halved; then G takes one step on the non-saturating GAN
loss plus λ·L1. The position in the data is a function of the step alone (a seeded permutation
per epoch, jitter seeded per (seed, epoch, index)), and the global RNG that drives dropout is
saved in every checkpoint, so a run resumed from a checkpoint continues exactly as if it had
never stopped. A loss that becomes NaN or infinite stops the run (`NonFiniteLossError`) before
the optimiser step it would corrupt, leaving the last checkpoint as it was.

Under torchrun the step runs on DistributedDataParallel, each process on its shard of the
global batch; `p2pbench.train.ddp` states what that means for batch norm and for resuming.
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm import tqdm

from p2pbench import compute
from p2pbench.base import atomic_write_text
from p2pbench.data import (
    Batch,
    DecodeCache,
    Jitter,
    PairedDataset,
    build_dataset,
    collate_samples,
)
from p2pbench.distributed import barrier, gather_lists, rank_and_world
from p2pbench.errors import BadInputError, InvalidValueError, PathExistsError, PathNotFoundError
from p2pbench.provenance import package_versions
from p2pbench.records import TIMING_KEYS, TrainingLogLine  # noqa: F401 (TIMING_KEYS: re-exported)
from p2pbench.timing import WallTimeEstimate
from p2pbench.train import ddp
from p2pbench.train.batches import StepBatches, batches, epoch_order  # noqa: F401 (its home)
from p2pbench.train.config import TrainConfig, lr_factor
from p2pbench.train.losses import gan_loss, l1_loss
from p2pbench.train.samples import save_sample_grid
from reference_models import (
    GeneratorConfig,
    build_discriminator,
    build_generator,
    generator_size,
    read_checkpoint,
    save_checkpoint,
)
from reference_models.checkpoint import generator_section

CHECKPOINT_NAME = "checkpoint.pt"
# how a run is executed, not what it computes (precision changes the numbers, and compiled
# code draws its dropout masks from its own random stream: those two stay)
RESUME_MAY_CHANGE = ("max_steps", "device", "sync_bn", "channels_last", "workers", "decode_cache")
LOG_NAME = "log.jsonl"
N_GRID_SAMPLES = 4


class NonFiniteLossError(BadInputError, ValueError):
    """A loss became NaN or infinite; training stopped before the optimiser step took it."""

    def __init__(
        self,
        terms: dict[str, float],
        *,
        step: int | None = None,
        checkpoint: Path | None = None,
        checkpoint_step: int | None = None,
    ) -> None:
        self.terms, self.step = dict(terms), step
        self.checkpoint, self.checkpoint_step = checkpoint, checkpoint_step
        bad = ", ".join(f"{k} = {v}" for k, v in terms.items() if not math.isfinite(v))
        where = f" at step {step}" if step is not None else ""
        if checkpoint is not None:
            last = f"the last good checkpoint is {checkpoint} (step {checkpoint_step})"
        else:
            last = "no checkpoint had been written yet"
        super().__init__(
            f"non-finite loss{where}: {bad}; training stopped and {last}. Lower --lr or "
            "--lambda-l1, or check the data, then start again or continue with --resume"
        )

    def at(self, step: int, checkpoint: Path, checkpoint_step: int | None) -> NonFiniteLossError:
        """The same error, naming the step and the checkpoint to fall back on."""
        saved = checkpoint if checkpoint_step is not None else None
        return NonFiniteLossError(
            self.terms, step=step, checkpoint=saved, checkpoint_step=checkpoint_step
        )


@dataclass
class Models:
    generator: nn.Module
    generator_config: GeneratorConfig
    discriminator: nn.Module | None
    optimizer_g: torch.optim.Adam
    optimizer_d: torch.optim.Adam | None
    # what the step runs under torchrun: DistributedDataParallel over the modules above
    train_generator: nn.Module | None = None
    train_discriminator: nn.Module | None = None


def build_models(config: TrainConfig) -> Models:
    """Generator, discriminator (None for the L1-only loss) and their Adam optimisers (fused
    where torch has the kernel), in `config`'s memory format, compiled with `config.compile`."""
    g_config = GeneratorConfig(
        ngf=config.ngf,
        norm=config.norm,
        dropout=config.dropout,
        dropout_layers=config.dropout_layers,
        bottleneck_norm=config.bottleneck_norm,
    )  # type: ignore[arg-type]
    device = torch.device(config.device)
    g = build_generator(config.generator, seed=config.seed, **vars_of(g_config)).to(device)
    compute.prepare_module(g, config.channels_last)
    betas = (config.beta1, config.beta2)
    opt_g = compute.adam(g.parameters(), lr=config.lr, betas=betas, device=device)
    d = opt_d = None
    if config.uses_gan:
        d = build_discriminator(
            config.discriminator,
            seed=config.seed + 1,
            in_channels=6 if config.conditional else 3,
            ndf=config.ndf,
            norm=config.norm,
        ).to(device)
        compute.prepare_module(d, config.channels_last)
        opt_d = compute.adam(d.parameters(), lr=config.lr, betas=betas, device=device)
    if config.compile:  # in place: state-dict keys and DDP wrapping stay as they are
        for net in (g, d):
            if net is not None:
                net.compile()
    return Models(g, g_config, d, opt_g, opt_d)


def vars_of(config: GeneratorConfig) -> dict[str, Any]:
    return {k: getattr(config, k) for k in config.__dataclass_fields__}


def train_step(
    config: TrainConfig, m: Models, batch: Batch, *, global_batch: int | None = None
) -> dict[str, float]:
    """One D step then one G step; returns the losses (L1 unweighted, always measured).

    Under torchrun `batch` is this process's shard of a global batch of `global_batch` samples:
    the returned losses are the global batch means, and a non-finite one raises
    `NonFiniteLossError` on every rank alike, before the optimiser step it would corrupt.
    """
    device = torch.device(config.device)
    world = rank_and_world()[1]
    total = global_batch if global_batch is not None else len(batch) * world
    share = len(batch) / total  # this rank's fraction of the global batch
    scale = world * len(batch) / total  # DDP averages over ranks: 1 for equal shards
    g = m.generator if m.train_generator is None else m.train_generator
    d = m.discriminator if m.train_discriminator is None else m.train_discriminator
    real_a = compute.to_memory_format(batch.input.to(device), config.channels_last)
    real_b = compute.to_memory_format(batch.target.to(device), config.channels_last)
    fake_b = _run(config, g, real_a)
    losses: dict[str, float] = {}

    def d_input(output: torch.Tensor) -> torch.Tensor:
        return torch.cat([real_a, output], dim=1) if config.conditional else output

    if d is not None and m.discriminator is not None and m.optimizer_d is not None:
        m.discriminator.requires_grad_(True)
        m.optimizer_d.zero_grad(set_to_none=True)
        loss_fake = gan_loss(_run(config, d, d_input(fake_b.detach())), False, config.gan_mode)
        loss_real = gan_loss(_run(config, d, d_input(real_b)), True, config.gan_mode)
        losses.update(_finite(ddp.reduce_losses({"d_fake": loss_fake, "d_real": loss_real}, share)))
        _backward(0.5 * (loss_fake + loss_real), scale)
        m.optimizer_d.step()
        m.discriminator.requires_grad_(False)

    m.optimizer_g.zero_grad(set_to_none=True)
    l1 = l1_loss(fake_b, real_b)
    loss_g = config.lambda_l1 * l1 if config.uses_l1 else torch.zeros((), device=device)
    terms: dict[str, torch.Tensor] = {}
    if d is not None:
        # D's own forward, outside DDP: this backward gives D no gradients to synchronise
        g_gan = gan_loss(_run(config, ddp.plain(d), d_input(fake_b)), True, config.gan_mode)
        loss_g = loss_g + g_gan
        terms["g_gan"] = g_gan
    terms["l1"] = l1
    losses.update(_finite(ddp.reduce_losses(terms, share), losses))
    _backward(loss_g, scale)
    m.optimizer_g.step()
    return losses


def _run(config: TrainConfig, net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """`net(x)` at the run's precision; the output in fp32, so losses are computed in fp32."""
    with compute.autocast(config.precision, x.device):
        out = net(x)
    return out.float()


def _finite(terms: dict[str, float], earlier: dict[str, float] | None = None) -> dict[str, float]:
    """`terms`, if every value is finite; else `NonFiniteLossError` (naming the step's losses)."""
    if not all(math.isfinite(v) for v in terms.values()):
        raise NonFiniteLossError({**(earlier or {}), **terms})
    return terms


def _backward(loss: torch.Tensor, scale: float) -> None:
    (loss if scale == 1 else loss * scale).backward()


def training_data(config: TrainConfig) -> PairedDataset:
    """The training split of `config`'s data at its size, with its jitter (no label maps)."""
    size = config.size or generator_size(config.generator)
    data = build_dataset(
        config.data,
        "train",
        size=size,
        direction=config.direction,
        seed=config.data_seed,
        data_root=config.data_root,
        n=config.n_train,
        transform=Jitter(size, resize=config.jitter_resize) if config.jitter else None,
        labels=False,
        transform_seed=config.seed,
    )
    if config.decode_cache:
        data.decode_cache = DecodeCache()
    return data


def train(
    config: TrainConfig, run_dir: str | Path, *, resume: bool = False, progress: bool = True
) -> Path:
    """Train (or, with `resume`, continue) a run in `run_dir`; returns the checkpoint path.

    Under torchrun every process calls this; rank 0 alone writes files and shows progress.
    """
    rank, world = rank_and_world()
    main = rank == 0
    run = Path(run_dir)
    checkpoint_path = run / CHECKPOINT_NAME
    if checkpoint_path.exists() and not resume:
        raise PathExistsError(
            f"{run} already holds a run; pass --resume to continue it or choose another --out"
        )
    if world > 1 and config.sync_bn and torch.device(config.device).type != "cuda":
        raise InvalidValueError(
            f"--sync-bn needs CUDA (torch's SyncBatchNorm normalises GPU tensors only), found "
            f"--device {config.device}; drop --sync-bn to normalise each process's shard"
        )
    barrier()  # every rank has looked for the checkpoint before rank 0 may write one
    size = config.size or generator_size(config.generator)
    data = training_data(config)
    steps_per_epoch = math.ceil(len(data) / config.batch_size)
    total = config.epochs * steps_per_epoch
    if config.max_steps is not None:
        total = min(total, config.max_steps)
    ddp.check_batch_split(config.batch_size, len(data), world, whole_epoch=total >= steps_per_epoch)
    grid_samples = _grid_samples(config, size) if main else None
    run.mkdir(parents=True, exist_ok=True)  # once the data is known to be readable
    torch.manual_seed(ddp.dropout_seed(config.seed, rank))  # drives dropout during training
    m = build_models(config)
    step = 0
    saved_step: int | None = None  # the step of the checkpoint on disk
    if resume:
        step = saved_step = _restore(checkpoint_path, config, m)
        if main:
            _truncate_log(run / LOG_NAME, step)
    elif main:
        atomic_write_text(run / "config.json", json.dumps(config.to_dict(), indent=2) + "\n")
    if world > 1:  # DDP's constructor also checks that every rank holds the same weights
        m.train_generator = ddp.distributed(m.generator, sync_bn=config.sync_bn)
        if m.discriminator is not None:
            m.train_discriminator = ddp.distributed(m.discriminator, sync_bn=config.sync_bn)

    bar = tqdm(
        total=total,
        initial=step,
        disable=not progress or not main,
        file=sys.stderr,
        unit="step",
        desc="train",
    )
    for net in (m.generator, m.discriminator, m.train_generator, m.train_discriminator):
        if net is not None:  # the SyncBatchNorm copies have their own training flags
            net.train()
    steps = StepBatches(
        data, seed=config.seed, batch_size=config.batch_size, rank=rank, world=world
    )
    loader = batches(
        steps, step, total, workers=config.workers, pin_memory=config.device.startswith("cuda")
    )
    with contextlib.ExitStack() as files:
        log = files.enter_context(open(run / LOG_NAME, "a", encoding="utf-8")) if main else None
        clock = StepClock(step, config.batch_size)
        expected = WallTimeEstimate("train", total, done=step, enabled=progress and main)
        for batch, global_batch in loader:
            epoch = step // steps_per_epoch
            _set_lr(config, m, epoch)
            try:
                losses = train_step(config, m, batch, global_batch=global_batch)
            except NonFiniteLossError as e:
                raise e.at(step + 1, checkpoint_path, saved_step) from None
            step += 1
            expected.update(step)
            bar.update(1)
            bar.set_postfix({k: f"{v:.3f}" for k, v in losses.items()}, refresh=False)
            if log is not None and (step % config.log_every == 0 or step == total):
                line = TrainingLogLine(step, epoch, losses, clock.lap(step))
                log.write(line.to_json() + "\n")
                log.flush()
            if grid_samples is not None and (step % config.sample_every == 0 or step == total):
                save_sample_grid(
                    m.generator,
                    grid_samples,
                    run / "samples" / f"step{step:07d}.png",
                    seed=config.seed,
                )
            if step % config.checkpoint_every == 0 or step == total:
                _save(checkpoint_path, config, m, step)
                saved_step = step
    bar.close()
    return checkpoint_path


class StepClock:
    """Seconds per step and images per second since the previous log line (sample grids and
    checkpoints written in between included: what the run really took)."""

    def __init__(self, step: int, batch_size: int) -> None:
        self.step, self.batch_size, self.time = step, batch_size, time.perf_counter()

    def lap(self, step: int) -> dict[str, float]:
        now = time.perf_counter()
        seconds = (now - self.time) / max(1, step - self.step)
        self.step, self.time = step, now
        images_per_s = self.batch_size / seconds
        return {"s_per_step": round(seconds, 4), "images_per_s": round(images_per_s, 3)}


def _grid_samples(config: TrainConfig, size: int) -> Batch:
    """A few fixed validation samples (training samples where there is no val split)."""
    for split in ("val", "train"):
        try:
            data = build_dataset(
                config.data,
                split,
                size=size,
                direction=config.direction,
                seed=config.data_seed,
                data_root=config.data_root,
                n=None,
                labels=False,
            )
        except FileNotFoundError:
            continue
        return collate_samples([data[i] for i in range(min(N_GRID_SAMPLES, len(data)))])
    raise PathNotFoundError(f"no val or train split found for {config.data}")


def _set_lr(config: TrainConfig, m: Models, epoch: int) -> None:
    lr = config.lr * lr_factor(config, epoch)
    for opt in (m.optimizer_g, m.optimizer_d):
        if opt is not None:
            for group in opt.param_groups:
                group["lr"] = lr


def _save(path: Path, config: TrainConfig, m: Models, step: int) -> None:
    """Rank 0 writes the checkpoint (atomically); every rank waits until it is in place."""
    rank, world = rank_and_world()
    rng = {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    rng_by_rank = gather_lists([rng]) if world > 1 else [rng]
    if rank != 0:
        barrier()
        return
    sections: dict[str, Any] = {
        "generator": generator_section(config.generator, m.generator_config, m.generator),
        "optimizers": {"generator": m.optimizer_g.state_dict()},
        "step": step,
        "rng": rng,
        "run": config.to_dict(),
        "versions": package_versions(),
        "world_size": world,
    }
    if world > 1:
        sections["rng_by_rank"] = rng_by_rank
    if m.discriminator is not None and m.optimizer_d is not None:
        sections["discriminator"] = {
            "name": config.discriminator,
            "state_dict": m.discriminator.state_dict(),
        }
        sections["optimizers"]["discriminator"] = m.optimizer_d.state_dict()
    save_checkpoint(path, sections)
    barrier()


def _restore(path: Path, config: TrainConfig, m: Models) -> int:
    if not path.exists():
        raise PathNotFoundError(f"--resume: no checkpoint at {path}")
    data = read_checkpoint(path)
    stored = TrainConfig.from_dict(data["run"])
    differing = [
        k
        for k, v in stored.to_dict().items()
        if k not in RESUME_MAY_CHANGE and getattr(config, k) != v
    ]
    if differing:
        raise InvalidValueError(
            f"--resume: the options {differing} differ from the run in {path.parent}; "
            "a resumed run keeps its configuration (only "
            + ", ".join("--" + k.replace("_", "-") for k in RESUME_MAY_CHANGE)
            + " may change)"
        )
    m.generator.load_state_dict(data["generator"]["state_dict"])
    m.optimizer_g.load_state_dict(data["optimizers"]["generator"])
    if m.discriminator is not None and m.optimizer_d is not None:
        m.discriminator.load_state_dict(data["discriminator"]["state_dict"])
        m.optimizer_d.load_state_dict(data["optimizers"]["discriminator"])
    step = int(data["step"])
    rank, world = rank_and_world()
    by_rank = data.get("rng_by_rank") or [data["rng"]]
    if len(by_rank) == world or rank == 0:  # same world size, or rank 0 under another one
        rng = by_rank[rank]
        torch.set_rng_state(rng["torch"])
        if rng["cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])
    else:  # a rank the stored run did not have, or a stream of a different split
        torch.manual_seed(ddp.dropout_seed(config.seed, rank, step))
    return step


def _truncate_log(path: Path, step: int) -> None:
    """Drop log lines written after the checkpoint we resume from (they will be redone)."""
    if not path.exists():
        return
    lines = path.read_text(encoding="utf-8").splitlines()
    kept = [ln for ln in lines if ln.strip() and json.loads(ln)["step"] <= step]
    atomic_write_text(path, "".join(ln + "\n" for ln in kept))
