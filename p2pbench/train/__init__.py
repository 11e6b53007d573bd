"""The reference pix2pix trainer."""

from p2pbench.train.config import GAN_MODES, LOSSES, SCHEDULES, TrainConfig, lr_factor
from p2pbench.train.trainer import (
    TIMING_KEYS,
    NonFiniteLossError,
    build_models,
    train,
    train_step,
)

__all__ = [
    "GAN_MODES",
    "LOSSES",
    "NonFiniteLossError",
    "SCHEDULES",
    "TIMING_KEYS",
    "TrainConfig",
    "build_models",
    "lr_factor",
    "train",
    "train_step",
]
