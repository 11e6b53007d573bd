"""Resizing and cropping shared by the encoders' preprocessing modes (uint8 N×3×H×W in)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor
from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def check_uint8_images(x: Tensor) -> None:
    if x.dtype != torch.uint8 or x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(
            f"expected uint8 N×3×H×W RGB images, found {x.dtype} of shape {tuple(x.shape)}; "
            "turn [-1, 1] images into uint8 with p2pbench.data.quantize_uint8 first"
        )


def pil_resize(x: Tensor, size: tuple[int, int], resample: Image.Resampling) -> Tensor:
    """Each uint8 image resized by PIL (as torchvision's Resize on a PIL image): uint8 N×3×h×w,
    `size` = (h, w)."""
    hwc = x.permute(0, 2, 3, 1).cpu().numpy()
    out = [np.asarray(Image.fromarray(im).resize((size[1], size[0]), resample)) for im in hwc]
    return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).contiguous().to(x.device)


def torch_bicubic(x: Tensor, size: tuple[int, int], *, antialias: bool) -> Tensor:
    """float32 bicubic resize of a float tensor (no clamping, no rounding)."""
    return F.interpolate(x, size=size, mode="bicubic", align_corners=False, antialias=antialias)


def normalize(x: Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> Tensor:
    m = torch.tensor(mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    return (x - m) / s


def torch_fidelity_imagenet(x: Tensor, size: int) -> Tensor:
    """torch-fidelity's input to its ImageNet networks (DINOv2, VGG16): uint8 → float32 0..255,
    TF1-compatible bilinear resize to size×size (align_corners=False, no antialias, no crop),
    then (x − 255·mean) / (255·std) with the ImageNet mean and std."""
    y = interpolate_bilinear_2d_like_tensorflow1x(
        x.to(torch.float32), size=(size, size), align_corners=False
    )
    mean = tuple(255 * m for m in IMAGENET_MEAN)
    std = tuple(255 * s for s in IMAGENET_STD)
    return normalize(y, mean, std)
