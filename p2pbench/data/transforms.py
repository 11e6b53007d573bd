"""The paper's training jitter, as an explicit, seeded transform (FACTS §3).

Resize to load_size×load_size (default round(size·286/256), Python rounding: 256 → 286,
128 → 143), crop a random size×size window, flip horizontally with probability 0.5. The same
window and flip apply to input, target and label. Images are resized with `resize` ("bilinear"
as in the Lua code, "bicubic" as in the PyTorch port; torch kernels with antialiasing, clamped to
[-1, 1]); label maps always with nearest neighbour (pixel-centre aligned, "nearest-exact").
All randomness comes from the `torch.Generator` passed in.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from p2pbench.data.sample import Sample
from p2pbench.errors import InvalidValueError

IMAGE_RESIZE = ("bilinear", "bicubic")


@dataclass(frozen=True)
class JitterParams:
    """One draw of the jitter: crop window origin (in the resized image) and flip."""

    top: int
    left: int
    flip: bool


@dataclass(frozen=True)
class Jitter:
    """Resize → random crop → random horizontal flip, identical on input, target and label."""

    size: int
    load_size: int | None = None
    resize: str = "bilinear"
    flip_p: float = 0.5

    def __post_init__(self) -> None:
        if self.resize not in IMAGE_RESIZE:
            raise InvalidValueError(
                f"unknown jitter resize {self.resize!r}; choose one of {', '.join(IMAGE_RESIZE)}"
            )
        if self.load < self.size:
            raise InvalidValueError(
                f"jitter load_size {self.load} is smaller than the crop {self.size}"
            )
        if not 0.0 <= self.flip_p <= 1.0:
            raise InvalidValueError(f"flip_p must be in [0, 1], got {self.flip_p}")

    @property
    def load(self) -> int:
        """The size images are resized to before cropping."""
        return self.load_size if self.load_size is not None else round(self.size * 286 / 256)

    def draw(self, generator: torch.Generator) -> JitterParams:
        """Draw crop origin and flip; consumes exactly three values from `generator`."""
        span = self.load - self.size + 1
        top = int(torch.randint(span, (1,), generator=generator))
        left = int(torch.randint(span, (1,), generator=generator))
        flip = bool(torch.rand((1,), generator=generator) < self.flip_p)
        return JitterParams(top, left, flip)

    def apply(self, sample: Sample, params: JitterParams) -> Sample:
        """Apply one drawn jitter to every tensor of the sample."""
        shape = tuple(sample.input.shape[1:])
        if tuple(sample.target.shape[1:]) != shape:
            raise InvalidValueError(
                f"jitter needs input and target on one grid, got {shape} and "
                f"{tuple(sample.target.shape[1:])} for {sample.sample_id}"
            )
        label = sample.label
        if label is not None:
            if tuple(label.shape) != shape:
                raise InvalidValueError(
                    f"jitter needs the label on the image grid {shape}, got "
                    f"{tuple(label.shape)} for {sample.sample_id} (Cityscapes labels stay at "
                    "native resolution: build the training set with labels=False)"
                )
            label = self._crop_flip(self._resize_label(label), params)
        return Sample(
            self._crop_flip(self._resize_image(sample.input), params),
            self._crop_flip(self._resize_image(sample.target), params),
            label,
            sample.sample_id,
        )

    def __call__(self, sample: Sample, generator: torch.Generator) -> Sample:
        return self.apply(sample, self.draw(generator))

    def _resize_image(self, x: Tensor) -> Tensor:
        if tuple(x.shape[1:]) == (self.load, self.load):
            return x
        y = F.interpolate(
            x[None],
            size=(self.load, self.load),
            mode=self.resize,
            align_corners=False,
            antialias=True,
        )[0]
        return y.clamp(-1.0, 1.0)

    def _resize_label(self, label: Tensor) -> Tensor:
        if tuple(label.shape) == (self.load, self.load):
            return label
        y = F.interpolate(
            label[None, None].to(torch.float32), size=(self.load, self.load), mode="nearest-exact"
        )
        return y[0, 0].to(torch.int64)

    def _crop_flip(self, x: Tensor, p: JitterParams) -> Tensor:
        x = x[..., p.top : p.top + self.size, p.left : p.left + self.size]
        return (x.flip(-1) if p.flip else x).contiguous()
