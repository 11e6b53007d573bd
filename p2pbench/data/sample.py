"""The one sample interface every data source yields, and the image ↔ tensor conversions.

Images are float32 tensors 3×H×W in [-1, 1]. The only way back to 8-bit is `quantize_uint8`:

    u = round((clamp(x, -1, 1) + 1) / 2 * 255)      computed in float32,

with `torch.round`, which rounds halves to even (127.5 → 128, 126.5 → 126). The same rule is
used for images held in memory and for images written as PNG, so metrics computed on either
agree exactly. `to_tensor_image` is its exact inverse on uint8 images.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset

from p2pbench.errors import InvalidValueError

IGNORE_ID = 255
"""trainId of pixels that are not scored (Cityscapes convention)."""


@dataclass(frozen=True)
class Sample:
    """One paired example.

    `label` holds int64 trainIds (255 = ignore), at the target's pixel grid for synthcity and
    aligned folders, at the native label resolution for Cityscapes; None when a source has no
    labels.
    """

    input: Tensor
    target: Tensor
    label: Tensor | None
    sample_id: str

    def __post_init__(self) -> None:
        for name in ("input", "target"):
            t = getattr(self, name)
            if t.dtype != torch.float32 or t.ndim != 3 or t.shape[0] != 3:
                raise ValueError(
                    f"Sample {self.sample_id!r}: {name} must be a float32 3×H×W tensor, "
                    f"got {t.dtype} of shape {tuple(t.shape)}"
                )
        if self.label is not None and (self.label.dtype != torch.int64 or self.label.ndim != 2):
            raise ValueError(
                f"Sample {self.sample_id!r}: label must be an int64 H×W tensor, "
                f"got {self.label.dtype} of shape {tuple(self.label.shape)}"
            )


@dataclass(frozen=True)
class Batch:
    """A collated batch: input/target N×3×H×W, label N×H×W or None, ids in batch order."""

    input: Tensor
    target: Tensor
    label: Tensor | None
    sample_ids: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.sample_ids)


def _stack(tensors: list[Tensor], what: str, ids: Sequence[str]) -> Tensor:
    shapes = {tuple(t.shape) for t in tensors}
    if len(shapes) != 1:
        raise ValueError(
            f"cannot batch {what} of different shapes {sorted(shapes)} (samples {list(ids)}); "
            "resize them to one size (the dataset's `size` option) or use batch size 1"
        )
    return torch.stack(tensors)


def collate_samples(samples: Sequence[Sample]) -> Batch:
    """Stack samples into a `Batch`; usable as a DataLoader `collate_fn`."""
    if len(samples) == 0:
        raise ValueError("collate_samples got an empty list of samples")
    ids = tuple(s.sample_id for s in samples)
    with_label = [s.label is not None for s in samples]
    if any(with_label) and not all(with_label):
        missing = [s.sample_id for s in samples if s.label is None]
        raise ValueError(f"some samples in the batch have labels and some do not: {missing}")
    label = None
    if all(with_label):
        label = _stack([s.label for s in samples], "labels", ids)  # type: ignore[misc]
    return Batch(
        input=_stack([s.input for s in samples], "inputs", ids),
        target=_stack([s.target for s in samples], "targets", ids),
        label=label,
        sample_ids=ids,
    )


def to_tensor_image(image: Image.Image | np.ndarray) -> Tensor:
    """An RGB image (PIL mode "RGB" or uint8 H×W×3 array) → float32 3×H×W in [-1, 1]."""
    if isinstance(image, Image.Image):
        if image.mode != "RGB":
            raise ValueError(f"expected an RGB image, got mode {image.mode!r}; convert it first")
        array = np.asarray(image, dtype=np.uint8)
    else:
        array = image
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(
            f"expected a uint8 H×W×3 array, got {array.dtype} of shape {tuple(array.shape)}"
        )
    # float32 u / 127.5 - 1 in numpy: the same IEEE result as in torch, without waking torch's
    # intra-op thread pool for a small image (costly inside data-loading loops)
    chw = np.ascontiguousarray(array.transpose(2, 0, 1), dtype=np.float32)
    return torch.from_numpy(chw / np.float32(127.5) - np.float32(1.0))


def quantize_uint8(x: Tensor) -> Tensor:
    """Images in [-1, 1] (any shape) → uint8 by the module's single rounding rule."""
    x = x.detach().to(torch.float32)
    if torch.isnan(x).any():
        raise ValueError("image contains NaN values; cannot convert it to uint8")
    return torch.round((x.clamp(-1.0, 1.0) + 1.0) / 2.0 * 255.0).to(torch.uint8)


def to_uint8(x: Tensor) -> np.ndarray:
    """A 3×H×W (or N×3×H×W) image in [-1, 1] → uint8 H×W×3 (or N×H×W×3), channels last."""
    if x.ndim not in (3, 4) or x.shape[-3] != 3:
        raise ValueError(f"expected 3×H×W or N×3×H×W, got shape {tuple(x.shape)}")
    return quantize_uint8(x).movedim(-3, -1).cpu().numpy()


def save_png(x: Tensor, path: str) -> None:
    """Write a 3×H×W image in [-1, 1] as an RGB PNG using the module's rounding rule."""
    if x.ndim != 3:
        raise ValueError(f"save_png writes one 3×H×W image, got shape {tuple(x.shape)}")
    Image.fromarray(to_uint8(x)).save(path, format="PNG")


RESIZE_FILTERS: dict[str, Image.Resampling] = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
}
"""Pillow resize filters by the names used in options and protocols."""


def pil_filter(name: str) -> Image.Resampling:
    """The Pillow filter for a name in `RESIZE_FILTERS`; an unknown name lists the choices."""
    try:
        return RESIZE_FILTERS[name]
    except KeyError:
        raise InvalidValueError(
            f"unknown resize filter {name!r}; choose one of {', '.join(RESIZE_FILTERS)}"
        ) from None


Transform = Callable[[Sample, torch.Generator], Sample]
"""A sample transform; all its randomness comes from the generator it is given."""

_MIX = 0x9E3779B97F4A7C15


def sample_generator(seed: int, epoch: int, index: int) -> torch.Generator:
    """A generator for one (seed, epoch, index): reproducible whatever the worker layout."""
    h = 0
    for v in (seed, epoch, index):
        h = ((h ^ (v & 0xFFFFFFFFFFFFFFFF)) * _MIX + 0x632BE59BD9B4E019) & 0xFFFFFFFFFFFFFFFF
        h ^= h >> 29
    return torch.Generator().manual_seed(h & 0x7FFFFFFFFFFFFFFF)


class SampleCache(Protocol):
    """What a dataset's `decode_cache` does (`p2pbench.data.decode_cache.DecodeCache` is one):
    the sample stored under a key, or None; store a sample under a key."""

    def get(self, key: str) -> Sample | None: ...

    def put(self, key: str, sample: Sample) -> None: ...


class PairedDataset(Dataset[Sample]):
    """Base of every source: `__getitem__` loads a sample and applies the optional transform.

    The transform gets a generator derived from (transform_seed, epoch, index), so jitter is
    reproducible and independent of DataLoader workers. Call `set_epoch` before each epoch;
    with `persistent_workers=True` the workers keep the epoch they started with.
    """

    def __init__(self, transform: Transform | None, transform_seed: int) -> None:
        self.transform = transform
        self.transform_seed = transform_seed
        self.epoch = 0
        self.decode_cache: SampleCache | None = None  # e.g. a DecodeCache

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def load(self, index: int) -> Sample:
        raise NotImplementedError

    def decode_key(self, index: int) -> str | None:
        """What `load(index)` depends on (files, their stamps, sizes, filters), for the decode
        cache; None: not worth caching (nothing is decoded from files)."""
        return None

    def __len__(self) -> int:
        raise NotImplementedError

    def __getitem__(self, index: int) -> Sample:
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"index {index} out of range for a dataset of {n} samples")
        index %= n
        sample = self._load_cached(index)
        if self.transform is not None:
            generator = sample_generator(self.transform_seed, self.epoch, index)
            sample = self.transform(sample, generator)
        return sample

    def _load_cached(self, index: int) -> Sample:
        cache = self.decode_cache
        key = self.decode_key(index) if cache is not None else None
        if cache is None or key is None:
            return self.load(index)
        sample = cache.get(key)
        if sample is None:
            sample = self.load(index)
            cache.put(key, sample)
        return sample
