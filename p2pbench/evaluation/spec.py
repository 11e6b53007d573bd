"""What an evaluation scores, how it runs, and the Inception options: three small frozen configs.

- `ScoreSpec`: which metric groups, which part of the split, what may be missing, what is
  required. Changes what the result says.
- `RunSpec`: batch size, device, seed, progress, the command line. Batch size and device never
  change the numbers; the seed drives test-time dropout (per sample id) and is recorded.
- `EncoderSpec`: FID preprocessing mode, InceptionV3 weights, reference statistics.
"""

from __future__ import annotations

from dataclasses import dataclass

from p2pbench.devices import check_device
from p2pbench.metrics.keys import GROUPS


@dataclass(frozen=True)
class ScoreSpec:
    """What to score: metric groups (those that apply), ids, and what is allowed or required."""

    metrics: tuple[str, ...] = GROUPS
    split: str | None = None  # None: the protocol's split
    limit: int | None = None  # the first N images (recorded)
    per_image: bool = False
    allow_missing: bool = False  # image folders: score what is there (recorded)
    allow_partial_split: bool = False  # a split with fewer images than the protocol's
    require: tuple[str, ...] = ()  # metrics that must be available, e.g. ("fid",)
    segmenter_weights: str | None = None  # override the protocol segmenter's weights file

    def __post_init__(self) -> None:
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"limit must be at least 1, found {self.limit}")
        unknown = sorted(set(self.metrics) - set(GROUPS))
        if unknown or not self.metrics:
            raise ValueError(
                f"unknown metric groups {unknown or list(self.metrics)}; valid: {', '.join(GROUPS)}"
            )


@dataclass(frozen=True)
class RunSpec:
    """How to run: never changes a number, except `seed` (test-time dropout, recorded)."""

    batch_size: int = 8
    device: str = "cpu"
    seed: int = 0
    progress: bool = True
    command: tuple[str, ...] = ()  # the command line that asked for this run (recorded)
    exact: bool = False  # fp32 NCHW, the path the default channels-last path is tested against
    workers: int = 0  # processes that decode and resize the next batches (0: this one)
    fast_math: str | None = None  # "tf32" / "bf16": only where measured to agree (compute.py)

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"batch size must be at least 1, found {self.batch_size}")
        if self.workers < 0:
            raise ValueError(f"workers must be at least 0, found {self.workers}")
        check_device(self.device)


@dataclass(frozen=True)
class EncoderSpec:
    """InceptionV3 options for FID, IS and KID."""

    fid_mode: str = "tf"  # tf (torch-fidelity), pytorch-fid, clean
    inception_weights: str | None = None  # else $P2PBENCH_INCEPTION_WEIGHTS, else the hub cache
    reference_stats: str | None = None  # a stats file or pytorch-fid .npz instead of the cache
