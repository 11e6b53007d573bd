"""The trainer's configuration: one frozen dataclass, saved inside every checkpoint."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from p2pbench.compute import PRECISIONS
from p2pbench.errors import InvalidValueError
from p2pbench.seeds import check_seed
from reference_models import DISCRIMINATORS, GENERATORS

LOSSES: tuple[str, ...] = ("l1", "gan", "cgan", "l1+gan", "l1+cgan")
GAN_MODES: tuple[str, ...] = ("vanilla", "lsgan")
SCHEDULES: tuple[str, ...] = ("constant", "linear-decay")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a pix2pix training run.

    Defaults are the paper's: U-Net 256, 70×70 PatchGAN, L1 + cGAN with λ = 100, Adam 2e-4
    (0.5, 0.999), batch 1, jitter 286 → 256 crop + flip, constant learning rate (the paper's
    Lua code). `schedule="linear-decay"` holds the rate for `epochs - decay_epochs` epochs and
    then decays it linearly, as the PyTorch port does with 100 + 100 epochs.

    `precision`, `channels_last`, `compile`, `workers` and `decode_cache` choose how the step
    runs (see `p2pbench.compute`); fp32 is the default, bf16 autocast an opt-in.

    Under torchrun `batch_size` is the global batch, split across the processes, and `sync_bn`
    turns batch norm into SyncBatchNorm (CUDA only); see `p2pbench.train.ddp`.
    """

    data: str = "synthcity"
    data_root: str | None = None
    direction: str | None = None  # None: the dataset's labels→photo direction
    n_train: int | None = None  # synthcity only: number of generated training samples
    data_seed: int = 0  # synthcity only: the content seed of the generated training data
    size: int | None = None  # None: the generator's size
    generator: str = "unet256"
    discriminator: str = "patch70"
    ngf: int = 64
    ndf: int = 64
    norm: str = "batch"
    dropout: bool = True
    dropout_layers: str = "paper"
    bottleneck_norm: bool = False  # the paper-era U-Net / encoder-decoder (GeneratorConfig)
    loss: str = "l1+cgan"
    gan_mode: str = "vanilla"
    lambda_l1: float = 100.0
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    schedule: str = "constant"
    epochs: int = 200
    decay_epochs: int = 0
    max_steps: int | None = None
    batch_size: int = 1  # the global batch: under torchrun each process takes a shard of it
    sync_bn: bool = False  # several processes: batch-norm statistics over the global batch
    jitter: bool = True
    jitter_resize: str = "bilinear"  # the Lua code's filter; the port used bicubic
    seed: int = 0
    device: str = "cpu"
    precision: str = "fp32"  # "bf16": forward passes under bf16 autocast (p2pbench.compute)
    channels_last: bool = True  # the networks' memory format (the numbers do not depend on it)
    compile: bool = False  # torch.compile the networks (opt-in: compiling takes minutes)
    workers: int = 0  # DataLoader worker processes that load and jitter the batches
    decode_cache: bool = False  # keep decoded, resized images on disk (Cityscapes, folders)
    checkpoint_every: int = 500  # steps; a checkpoint is also written at the end of the run
    sample_every: int = 500  # steps between sample grids
    log_every: int = 10  # steps between loss-log lines

    def __post_init__(self) -> None:
        _choice("loss", self.loss, LOSSES)
        _choice("gan_mode", self.gan_mode, GAN_MODES)
        _choice("schedule", self.schedule, SCHEDULES)
        _choice("precision", self.precision, PRECISIONS)
        if self.workers < 0:
            raise InvalidValueError(f"workers must be at least 0, found {self.workers}")
        if self.epochs < 1 or self.batch_size < 1:
            raise InvalidValueError("epochs and batch_size must be at least 1")
        if not 0 <= self.decay_epochs <= self.epochs:
            raise InvalidValueError(f"decay_epochs must be in [0, epochs={self.epochs}]")
        if self.schedule == "constant" and self.decay_epochs:
            raise InvalidValueError("decay_epochs needs schedule='linear-decay'")
        if self.max_steps is not None and self.max_steps < 1:
            raise InvalidValueError("max_steps must be at least 1")
        for name in ("checkpoint_every", "sample_every", "log_every", "ngf", "ndf"):
            if getattr(self, name) < 1:
                raise InvalidValueError(f"{name} must be at least 1")
        if self.n_train is not None and self.n_train < 1:
            raise InvalidValueError(f"n_train must be at least 1, found {self.n_train}")
        check_seed(self.seed, "seed")
        check_seed(self.data_seed, "data_seed")
        if not (math.isfinite(self.lambda_l1) and self.lambda_l1 >= 0):
            raise InvalidValueError(
                f"lambda_l1 must be a finite number ≥ 0, found {self.lambda_l1}"
            )
        if self.uses_l1 and self.lambda_l1 == 0:
            raise InvalidValueError(
                f"loss {self.loss!r} with lambda_l1 = 0 has no L1 term: use loss 'gan'/'cgan'"
            )
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise InvalidValueError(f"lr must be a finite number > 0, found {self.lr}")
        if not (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1):
            raise InvalidValueError(
                f"Adam betas must be in [0, 1), found ({self.beta1}, {self.beta2})"
            )
        if self.sync_bn and self.norm != "batch":
            raise InvalidValueError(f"sync_bn synchronises batch norm, but norm is {self.norm!r}")
        _check_sizes(self)

    @property
    def uses_gan(self) -> bool:
        return self.loss != "l1"

    @property
    def conditional(self) -> bool:
        return self.loss in ("cgan", "l1+cgan")

    @property
    def uses_l1(self) -> bool:
        return self.loss.startswith("l1")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        valid = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - valid)
        if unknown:
            raise InvalidValueError(f"unknown training options {unknown}; valid: {sorted(valid)}")
        return cls(**data)


def _check_sizes(config: TrainConfig) -> None:
    """The networks exist and fit the image size (else a shape error deep in the first step)."""
    generator = GENERATORS.get(config.generator)
    discriminator = DISCRIMINATORS.get(config.discriminator)
    size = config.size if config.size is not None else generator.size
    if size < 1:
        raise InvalidValueError(f"size must be at least 1, found {size}")
    if config.bottleneck_norm and generator.family == "resnet":
        raise InvalidValueError(
            f"bottleneck_norm applies to U-Net and encoder-decoder, not {config.generator}"
        )
    if generator.family in ("unet", "encdec") and size % generator.size:
        raise InvalidValueError(
            f"{config.generator} halves the image {generator.size.bit_length() - 1} times: the "
            f"size must be a multiple of {generator.size}, found {size}"
        )
    if generator.family == "resnet" and size % 4:
        raise InvalidValueError(f"{config.generator} needs a size divisible by 4, found {size}")
    if size < discriminator.min_size:
        raise InvalidValueError(
            f"{config.discriminator} needs images of at least {discriminator.min_size}×"
            f"{discriminator.min_size}, found {size}; use a smaller patch discriminator"
        )


def _choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise InvalidValueError(f"unknown {name} {value!r}; valid: {', '.join(choices)}")


def lr_factor(config: TrainConfig, epoch: int) -> float:
    """Learning-rate multiplier during 0-based `epoch`.

    constant: 1. linear-decay: 1 for the first `epochs - decay_epochs` epochs, then
    1 − k / (decay_epochs + 1) in the k-th decay epoch (k = 1..decay_epochs), the PyTorch port's
    rule, so the rate never reaches zero inside the run.
    """
    if config.schedule == "constant":
        return 1.0
    constant = config.epochs - config.decay_epochs
    k = max(0, epoch + 1 - constant)
    return 1.0 - k / (config.decay_epochs + 1)
