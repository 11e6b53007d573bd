"""FCN-8s exactly as the pix2pix authors' Caffe deploy network behind FCN-score (FACTS §1).

Every shape matches Caffe's: conv1_1 pads by 100, pooling rounds up (`ceil_mode=True`), and the
skip connections are joined by Caffe's crops at offsets 5 and 9, the output cropped to the input
size at offset 31. Module attributes carry the Caffe layer names, so a converted caffemodel maps
1:1 onto `state_dict()` keys (`conv1_1.weight`, ..., `fc6_cs.weight`, ..., `upscore8.weight`).

Memory: `forward` keeps only pool3, pool4 and the current tensor, so under `torch.no_grad()` a
full-size pass at 1024×2048 in fp32 holds about two conv1-sized tensors (64×1222×2246 floats,
0.7 GB each) at its peak instead of the >20 GB of keeping every activation: measured peak RSS
3.1 GB for the whole process, weights included, batch 1, ~22 s per image on 2 CPU cores
(`benchmarks/bench_fcn.py`). No tiling is needed to stay under ~12 GB, so none is offered;
memory grows linearly with the batch. With autograd on, activations are kept as usual.

Narrower members of the family (same layers and crops, fewer channels) serve as small
segmenters trained on synthetic data where no official weights exist, e.g.
`FCN8s(channels=(8, 16, 32, 64, 64), fc_channels=128)` (= `SMALL_ARCH`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from p2pbench.errors import InvalidValueError

VGG16_CHANNELS = (64, 128, 256, 512, 512)
BLOCK_DEPTHS = (2, 2, 3, 3, 3)  # convs per VGG block
CONV1_PAD = 100
CROP_POOL4, CROP_POOL3, CROP_SCORE = 5, 9, 31  # Caffe Crop offsets of the deploy network
CAFFE_MEAN_BGR = (72.78044, 83.21195, 73.45286)
OFFICIAL_PARAMETERS = 134_473_084


@dataclass(frozen=True)
class FCN8sArch:
    """The widths of an FCN-8s: output classes, the five VGG block widths, the fc6/fc7 width."""

    num_classes: int = 20
    channels: tuple[int, int, int, int, int] = VGG16_CHANNELS
    fc_channels: int = 4096

    def __post_init__(self) -> None:
        widths = (self.num_classes, *self.channels, self.fc_channels)
        if len(self.channels) != 5 or not all(isinstance(w, int) and w > 0 for w in widths):
            raise InvalidValueError(
                f"FCN8sArch needs a positive num_classes, fc_channels and five "
                f"positive block widths; found {self}"
            )

    @classmethod
    def narrow(cls, divisor: int, num_classes: int = 20) -> FCN8sArch:
        """The official widths divided by `divisor` (which must divide all of them)."""
        widths = (*VGG16_CHANNELS, 4096)
        if divisor < 1 or any(w % divisor for w in widths):
            raise InvalidValueError(f"width divisor must divide {widths}; found {divisor}")
        c = tuple(w // divisor for w in VGG16_CHANNELS)
        return cls(num_classes, c, 4096 // divisor)  # type: ignore[arg-type]

    def as_dict(self) -> dict[str, object]:
        """Plain values (for files that load with `weights_only=True`)."""
        return {
            "num_classes": self.num_classes,
            "channels": list(self.channels),
            "fc_channels": self.fc_channels,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FCN8sArch:
        """Inverse of `as_dict`; unknown or missing keys are errors."""
        keys = {"num_classes", "channels", "fc_channels"}
        if set(d) != keys:
            raise InvalidValueError(f"FCN8sArch expects keys {sorted(keys)}; found {sorted(d)}")
        return cls(
            int(d["num_classes"]),
            tuple(int(c) for c in d["channels"]),  # type: ignore[arg-type]  # length checked
            int(d["fc_channels"]),
        )


OFFICIAL_ARCH = FCN8sArch()
SMALL_ARCH = FCN8sArch(channels=(8, 16, 32, 64, 64), fc_channels=128)


class FCN8s(nn.Module):
    """FCN-8s with Caffe's layer names, shapes and crops; the defaults are the official network."""

    def __init__(
        self,
        num_classes: int = 20,
        channels: Sequence[int] = VGG16_CHANNELS,
        fc_channels: int = 4096,
    ) -> None:
        super().__init__()
        self.arch = FCN8sArch(num_classes, tuple(channels), fc_channels)  # type: ignore[arg-type]
        c, n = self.arch.channels, num_classes
        in_ch = 3
        for block, (width, depth) in enumerate(zip(c, BLOCK_DEPTHS, strict=True), start=1):
            for i in range(1, depth + 1):
                pad = CONV1_PAD if block == i == 1 else 1
                setattr(self, f"conv{block}_{i}", nn.Conv2d(in_ch, width, 3, padding=pad))
                in_ch = width
            setattr(self, f"pool{block}", nn.MaxPool2d(2, stride=2, ceil_mode=True))
        self.fc6_cs = nn.Conv2d(c[4], fc_channels, 7)
        self.fc7_cs = nn.Conv2d(fc_channels, fc_channels, 1)
        self.score_fr = nn.Conv2d(fc_channels, n, 1)
        self.upscore2 = nn.ConvTranspose2d(n, n, 4, stride=2, bias=False)
        self.score_pool4 = nn.Conv2d(c[3], n, 1)
        self.upscore_pool4 = nn.ConvTranspose2d(n, n, 4, stride=2, bias=False)
        self.score_pool3 = nn.Conv2d(c[2], n, 1)
        self.upscore8 = nn.ConvTranspose2d(n, n, 16, stride=8, bias=False)

    @classmethod
    def from_arch(cls, arch: FCN8sArch) -> FCN8s:
        return cls(arch.num_classes, arch.channels, arch.fc_channels)

    def forward(self, x: Tensor) -> Tensor:
        """Class scores N×num_classes×H×W for a Caffe-preprocessed N×3×H×W input."""
        height, width = x.shape[-2:]
        pool3 = pool4 = x
        for block, depth in enumerate(BLOCK_DEPTHS, start=1):
            for i in range(1, depth + 1):
                x = F.relu(getattr(self, f"conv{block}_{i}")(x), inplace=True)
            x = getattr(self, f"pool{block}")(x)
            if block == 3:
                pool3 = x
            elif block == 4:
                pool4 = x
        x = F.relu(self.fc6_cs(x), inplace=True)
        x = F.relu(self.fc7_cs(x), inplace=True)
        x = self.upscore2(self.score_fr(x))
        x = x + caffe_crop(self.score_pool4(pool4), CROP_POOL4, x.shape[-2:], "score_pool4c")
        del pool4
        x = self.upscore_pool4(x)
        x = x + caffe_crop(self.score_pool3(pool3), CROP_POOL3, x.shape[-2:], "score_pool3c")
        del pool3
        return caffe_crop(self.upscore8(x), CROP_SCORE, (height, width), "score")


def caffe_crop(x: Tensor, offset: int, size: Sequence[int], name: str = "crop") -> Tensor:
    """Caffe `Crop(axis=2, offset=o)`: `x[:, :, o:o+H, o:o+W]`, an error if it does not fit."""
    h, w = int(size[0]), int(size[1])
    if offset + h > x.shape[-2] or offset + w > x.shape[-1]:
        raise ValueError(
            f"{name}: crop of {h}×{w} at offset {offset} does not fit in "
            f"{x.shape[-2]}×{x.shape[-1]}"
        )
    return x[:, :, offset : offset + h, offset : offset + w]


def caffe_preprocess(images: Tensor) -> Tensor:
    """N×3×H×W RGB images (uint8, or float in 0..255) → the float BGR, mean-subtracted input.

    Caffe convention of the pix2pix FCN-score script: values stay in 0–255 (no /255, no std),
    channels become BGR, and the per-channel mean (B, G, R) = CAFFE_MEAN_BGR is subtracted.
    """
    if images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"expected N×3×H×W RGB images; found shape {tuple(images.shape)}")
    if images.dtype != torch.uint8:
        if not images.is_floating_point():
            raise ValueError(f"expected uint8 or float images; found {images.dtype}")
        lo, hi = float(images.min()), float(images.max())
        if lo < 0 or hi > 255:
            raise ValueError(
                f"expected float images in 0..255; found values in [{lo}, {hi}] "
                f"(images in [-1, 1] must be mapped to 0..255 first)"
            )
    mean = torch.tensor(CAFFE_MEAN_BGR, dtype=torch.float32, device=images.device)
    return images.float().flip(1) - mean.view(1, 3, 1, 1)


def predict(model: nn.Module, images: Tensor, *, channels_last: bool = False) -> Tensor:
    """Class index per pixel (argmax over the score channels): int64 N×H×W.

    `images` are RGB, uint8 or float 0..255; they are preprocessed the Caffe way and moved to
    the model's device. `channels_last` runs the network on a channels-last input (faster on
    most hardware; the scores differ by float rounding only).
    """
    device = next(model.parameters()).device
    x = caffe_preprocess(images.to(device))
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        return model(x).argmax(dim=1)
