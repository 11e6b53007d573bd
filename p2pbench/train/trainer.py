"""The reference pix2pix training loop, readable top to bottom.

One step: G translates the input; D takes one step on (input, target) as real and
(input, G(input)) as fake, its loss halved; then G takes one step on the non-saturating GAN
loss plus λ·L1. The position in the data is a function of the step alone (a seeded permutation
per epoch, jitter seeded per (seed, epoch, index)), and the global RNG that drives dropout is
saved in every checkpoint, so a run resumed from a checkpoint continues exactly as if it had
never stopped.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm import tqdm

from p2pbench.base import atomic_write_text
from p2pbench.data import Batch, Jitter, build_dataset, collate_samples, sample_generator
from p2pbench.provenance import package_versions
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
LOG_NAME = "log.jsonl"
N_GRID_SAMPLES = 4


@dataclass
class Models:
    generator: nn.Module
    generator_config: GeneratorConfig
    discriminator: nn.Module | None
    optimizer_g: torch.optim.Adam
    optimizer_d: torch.optim.Adam | None


def build_models(config: TrainConfig) -> Models:
    """Generator, discriminator (None for the L1-only loss) and their Adam optimisers."""
    g_config = GeneratorConfig(
        ngf=config.ngf,
        norm=config.norm,
        dropout=config.dropout,
        dropout_layers=config.dropout_layers,
    )  # type: ignore[arg-type]
    device = torch.device(config.device)
    g = build_generator(config.generator, seed=config.seed, **vars_of(g_config)).to(device)
    betas = (config.beta1, config.beta2)
    opt_g = torch.optim.Adam(g.parameters(), lr=config.lr, betas=betas)
    d = opt_d = None
    if config.uses_gan:
        d = build_discriminator(
            config.discriminator,
            seed=config.seed + 1,
            in_channels=6 if config.conditional else 3,
            ndf=config.ndf,
            norm=config.norm,
        ).to(device)
        opt_d = torch.optim.Adam(d.parameters(), lr=config.lr, betas=betas)
    return Models(g, g_config, d, opt_g, opt_d)


def vars_of(config: GeneratorConfig) -> dict[str, Any]:
    return {k: getattr(config, k) for k in config.__dataclass_fields__}


def epoch_order(seed: int, epoch: int, n: int) -> list[int]:
    """The seeded order in which an epoch visits the n training samples."""
    return torch.randperm(n, generator=sample_generator(seed, epoch, -1)).tolist()


def train_step(config: TrainConfig, m: Models, batch: Batch) -> dict[str, float]:
    """One D step then one G step; returns the losses (L1 unweighted, always measured)."""
    device = torch.device(config.device)
    real_a, real_b = batch.input.to(device), batch.target.to(device)
    fake_b = m.generator(real_a)
    losses: dict[str, float] = {}

    def d_input(output: torch.Tensor) -> torch.Tensor:
        return torch.cat([real_a, output], dim=1) if config.conditional else output

    if m.discriminator is not None and m.optimizer_d is not None:
        m.discriminator.requires_grad_(True)
        m.optimizer_d.zero_grad(set_to_none=True)
        loss_fake = gan_loss(m.discriminator(d_input(fake_b.detach())), False, config.gan_mode)
        loss_real = gan_loss(m.discriminator(d_input(real_b)), True, config.gan_mode)
        (0.5 * (loss_fake + loss_real)).backward()
        m.optimizer_d.step()
        m.discriminator.requires_grad_(False)
        losses.update(d_fake=loss_fake.item(), d_real=loss_real.item())

    m.optimizer_g.zero_grad(set_to_none=True)
    l1 = l1_loss(fake_b, real_b)
    loss_g = config.lambda_l1 * l1 if config.uses_l1 else torch.zeros((), device=device)
    if m.discriminator is not None:
        g_gan = gan_loss(m.discriminator(d_input(fake_b)), True, config.gan_mode)
        loss_g = loss_g + g_gan
        losses["g_gan"] = g_gan.item()
    loss_g.backward()
    m.optimizer_g.step()
    losses["l1"] = l1.item()
    return losses


def train(
    config: TrainConfig, run_dir: str | Path, *, resume: bool = False, progress: bool = True
) -> Path:
    """Train (or, with `resume`, continue) a run in `run_dir`; returns the checkpoint path."""
    run = Path(run_dir)
    checkpoint_path = run / CHECKPOINT_NAME
    if checkpoint_path.exists() and not resume:
        raise FileExistsError(
            f"{run} already holds a run; pass --resume to continue it or choose another --out"
        )
    run.mkdir(parents=True, exist_ok=True)
    size = config.size or generator_size(config.generator)
    transform = Jitter(size, resize=config.jitter_resize) if config.jitter else None
    data = build_dataset(
        config.data,
        "train",
        size=size,
        direction=config.direction,
        seed=config.data_seed,
        data_root=config.data_root,
        n=config.n_train,
        transform=transform,
        labels=False,
        transform_seed=config.seed,
    )
    grid_samples = _grid_samples(config, size)
    torch.manual_seed(config.seed)  # drives dropout during training
    m = build_models(config)
    step = 0
    if resume:
        step = _restore(checkpoint_path, config, m)
        _truncate_log(run / LOG_NAME, step)
    else:
        atomic_write_text(run / "config.json", json.dumps(config.to_dict(), indent=2) + "\n")

    steps_per_epoch = math.ceil(len(data) / config.batch_size)
    total = config.epochs * steps_per_epoch
    if config.max_steps is not None:
        total = min(total, config.max_steps)
    bar = tqdm(
        total=total, initial=step, disable=not progress, file=sys.stderr, unit="step", desc="train"
    )
    m.generator.train()
    if m.discriminator is not None:
        m.discriminator.train()
    with open(run / LOG_NAME, "a", encoding="utf-8") as log:
        while step < total:
            epoch, position = divmod(step, steps_per_epoch)
            _set_lr(config, m, epoch)
            data.set_epoch(epoch)
            order = epoch_order(config.seed, epoch, len(data))
            indices = order[position * config.batch_size : (position + 1) * config.batch_size]
            losses = train_step(config, m, collate_samples([data[i] for i in indices]))
            step += 1
            bar.update(1)
            bar.set_postfix({k: f"{v:.3f}" for k, v in losses.items()}, refresh=False)
            if step % config.log_every == 0 or step == total:
                log.write(json.dumps({"step": step, "epoch": epoch, **losses}) + "\n")
                log.flush()
            if step % config.sample_every == 0 or step == total:
                save_sample_grid(
                    m.generator,
                    grid_samples,
                    run / "samples" / f"step{step:07d}.png",
                    seed=config.seed,
                )
            if step % config.checkpoint_every == 0 or step == total:
                _save(checkpoint_path, config, m, step)
    bar.close()
    return checkpoint_path


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
    raise FileNotFoundError(f"no val or train split found for {config.data}")


def _set_lr(config: TrainConfig, m: Models, epoch: int) -> None:
    lr = config.lr * lr_factor(config, epoch)
    for opt in (m.optimizer_g, m.optimizer_d):
        if opt is not None:
            for group in opt.param_groups:
                group["lr"] = lr


def _save(path: Path, config: TrainConfig, m: Models, step: int) -> None:
    sections: dict[str, Any] = {
        "generator": generator_section(config.generator, m.generator_config, m.generator),
        "optimizers": {"generator": m.optimizer_g.state_dict()},
        "step": step,
        "rng": {
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        },
        "run": config.to_dict(),
        "versions": package_versions(),
    }
    if m.discriminator is not None and m.optimizer_d is not None:
        sections["discriminator"] = {
            "name": config.discriminator,
            "state_dict": m.discriminator.state_dict(),
        }
        sections["optimizers"]["discriminator"] = m.optimizer_d.state_dict()
    save_checkpoint(path, sections)


def _restore(path: Path, config: TrainConfig, m: Models) -> int:
    if not path.exists():
        raise FileNotFoundError(f"--resume: no checkpoint at {path}")
    data = read_checkpoint(path)
    stored = TrainConfig.from_dict(data["run"])
    differing = [
        k
        for k, v in stored.to_dict().items()
        if k not in ("max_steps", "device") and getattr(config, k) != v
    ]
    if differing:
        raise ValueError(
            f"--resume: the options {differing} differ from the run in {path.parent}; "
            "a resumed run keeps its configuration (only --max-steps and --device may change)"
        )
    m.generator.load_state_dict(data["generator"]["state_dict"])
    m.optimizer_g.load_state_dict(data["optimizers"]["generator"])
    if m.discriminator is not None and m.optimizer_d is not None:
        m.discriminator.load_state_dict(data["discriminator"]["state_dict"])
        m.optimizer_d.load_state_dict(data["optimizers"]["discriminator"])
    torch.set_rng_state(data["rng"]["torch"])
    if data["rng"]["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(data["rng"]["cuda"])
    return int(data["step"])


def _truncate_log(path: Path, step: int) -> None:
    """Drop log lines written after the checkpoint we resume from (they will be redone)."""
    if not path.exists():
        return
    lines = path.read_text(encoding="utf-8").splitlines()
    kept = [ln for ln in lines if ln.strip() and json.loads(ln)["step"] <= step]
    atomic_write_text(path, "".join(ln + "\n" for ln in kept))
