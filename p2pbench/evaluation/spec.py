"""What an evaluation scores, how it runs, and the Inception options: three small frozen configs.

- `ScoreSpec`: which metric groups, which part of the split, what may be missing, what is
  required. Changes what the result says.
- `RunSpec`: batch size, device, seed, progress, the command line. Batch size and device never
  change the numbers; the seed drives test-time dropout (per sample id) and is recorded.
- `EncoderSpec`: FID preprocessing mode, InceptionV3 weights, reference statistics; the
  encoders of the feature-space metrics (FD_DINOv2, CMMD, precision/recall/density/coverage).
"""

from __future__ import annotations

from dataclasses import dataclass

from p2pbench.devices import check_device
from p2pbench.errors import InvalidValueError
from p2pbench.metrics.cmmd import CMMD_PRECISIONS
from p2pbench.metrics.encoders import ENCODERS
from p2pbench.metrics.keys import DEFAULT_GROUPS, GROUPS
from p2pbench.seeds import check_seed


@dataclass(frozen=True)
class ScoreSpec:
    """What to score: metric groups (those that apply), ids, and what is allowed or required."""

    metrics: tuple[str, ...] = DEFAULT_GROUPS
    split: str | None = None  # None: the protocol's split
    limit: int | None = None  # the first N images (recorded)
    per_image: bool = False
    allow_missing: bool = False  # image folders: score what is there (recorded)
    allow_partial_split: bool = False  # a split with fewer images than the protocol's
    require: tuple[str, ...] = ()  # metrics that must be available, e.g. ("fid",)
    segmenter_weights: str | None = None  # override the protocol segmenter's weights file

    def __post_init__(self) -> None:
        if self.limit is not None and self.limit < 1:
            raise InvalidValueError(f"limit must be at least 1, found {self.limit}")
        unknown = sorted(set(self.metrics) - set(GROUPS))
        if unknown or not self.metrics:
            raise InvalidValueError(
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
            raise InvalidValueError(f"batch size must be at least 1, found {self.batch_size}")
        if self.workers < 0:
            raise InvalidValueError(f"workers must be at least 0, found {self.workers}")
        check_seed(self.seed)
        check_device(self.device)


@dataclass(frozen=True)
class EncoderSpec:
    """The feature encoders: InceptionV3 for FID, IS and KID; DINOv2 for FD_DINOv2, CLIP for
    CMMD and one encoder for precision/recall/density/coverage (`p2pbench.metrics.encoders`)."""

    fid_mode: str = "tf"  # tf (torch-fidelity), pytorch-fid, clean
    inception_weights: str | None = None  # else $P2PBENCH_INCEPTION_WEIGHTS, else the hub cache
    reference_stats: str | None = None  # a stats file or pytorch-fid .npz instead of the cache
    dinov2: str = "dinov2-vitl14"  # or dinov2-vitb14
    dinov2_mode: str = "dgm-eval"  # dgm-eval, edm2, torch-fidelity (every DINOv2 use)
    cmmd_crop: str = "center-crop"  # CMMD's; squash keeps the whole frame (every CLIP use)
    cmmd_precision: str = "float64"  # or float32: the reference's arithmetic, for its digits
    prdc_encoder: str = "vgg16-fc2"  # any feature encoder but inception-v3
    weights: tuple[tuple[str, str], ...] = ()  # (encoder name, weights file) pairs

    def __post_init__(self) -> None:
        for name in (self.dinov2, self.prdc_encoder, *(n for n, _ in self.weights)):
            ENCODERS.get(name)  # an unknown name lists the valid ones
        if not self.dinov2.startswith("dinov2-"):
            raise InvalidValueError(f"FD_DINOv2 needs a DINOv2 encoder, found {self.dinov2!r}")
        if self.prdc_encoder == "inception-v3":
            raise InvalidValueError(
                "precision/recall/density/coverage over inception-v3 would run InceptionV3 a "
                "second time; choose another encoder"
            )
        ENCODERS.get(self.dinov2).check_mode(self.dinov2_mode)
        ENCODERS.get("clip-vitl14-336").check_mode(self.cmmd_crop)
        if self.cmmd_precision not in CMMD_PRECISIONS:
            raise InvalidValueError(
                f"unknown CMMD precision {self.cmmd_precision!r}; choose one of "
                f"{', '.join(CMMD_PRECISIONS)}"
            )

    def weights_for(self, name: str) -> str | None:
        """The weights file given for encoder `name`, else None (its lookup order)."""
        given = [path for n, path in self.weights if n == name]
        if len(given) > 1:
            raise InvalidValueError(f"two weights files given for encoder {name}: {given}")
        return given[0] if given else None

    def feature_encoders(self, groups: tuple[str, ...] | list[str]) -> dict[str, tuple[str, str]]:
        """group → (encoder, mode) for the feature groups asked for; groups that share an
        encoder and mode share its single pass."""
        chosen = {"dinov2": (self.dinov2, self.dinov2_mode)}
        chosen["cmmd"] = ("clip-vitl14-336", self.cmmd_crop)
        chosen["prdc"] = (self.prdc_encoder, self.mode_of(self.prdc_encoder))
        return {g: chosen[g] for g in ("dinov2", "cmmd", "prdc") if g in groups}

    def mode_of(self, name: str) -> str:
        """The mode encoder `name` runs in: `dinov2_mode` for DINOv2, `cmmd_crop` for CLIP
        (whichever metric uses them), else its default."""
        if name.startswith("dinov2-"):
            return self.dinov2_mode
        if name.startswith("clip-"):
            return self.cmmd_crop
        return ENCODERS.get(name).default_mode
