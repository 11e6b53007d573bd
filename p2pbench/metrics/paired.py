"""Paired metrics of generated images against their targets: L1, PSNR, SSIM, LPIPS.

Every metric takes the uint8 N×3×H×W images that are scored elsewhere too (generator outputs
through `p2pbench.data.quantize_uint8`, or PNGs), so in-memory and on-disk evaluations agree.
Each is a per-image value averaged over images, kept as a float64 sum and a count
(``dist_reduce_fx="sum"``), hence independent of batch size and number of processes:

- ``l1``: mean |pred − target| / 255, in [0, 1] (twice that is the L1 on [-1, 1] images that
  pix2pix trains with);
- ``psnr``: 10·log10(255² / MSE) per image, in dB (torchmetrics, ``data_range=255``); +inf for
  an image identical to its target, which makes the mean +inf;
- ``ssim``: torchmetrics' SSIM per image (Gaussian window 11, σ 1.5, K = (0.01, 0.03),
  ``data_range=255``), the mean over channels and every pixel, the image reflect-padded by 5 px
  (scikit-image instead averages over the positions 5 px away from the border only);
- ``lpips``: torchmetrics' LPIPS (AlexNet by default) on [-1, 1] images, only when its backbone
  weights are already in the torch hub cache; otherwise `Unavailable`, never a fake number.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.functional.image import (
    peak_signal_noise_ratio,
    structural_similarity_index_measure,
)

from p2pbench.errors import InvalidValueError
from p2pbench.metrics.availability import Unavailable
from p2pbench.metrics.encoders.weights import hub_checkpoints_dir
from p2pbench.weights.catalog import builtin

DATA_RANGE = 255.0
LPIPS_WEIGHT_FILES = {"alex": "alexnet", "vgg": "vgg16", "squeeze": "squeezenet1_1"}
"""LPIPS network → its backbone's entry in the weights catalog."""
LPIPS_BACKBONES = {
    "alex": "AlexNet_Weights",
    "vgg": "VGG16_Weights",
    "squeeze": "SqueezeNet1_1_Weights",
}


def _check_pair(pred: Tensor, target: Tensor) -> None:
    for name, t in (("pred", pred), ("target", target)):
        if t.dtype != torch.uint8 or t.ndim != 4 or t.shape[1] != 3:
            raise ValueError(
                f"expected {name} as uint8 N×3×H×W RGB images, found {t.dtype} of shape "
                f"{tuple(t.shape)}; convert [-1, 1] images with p2pbench.data.quantize_uint8"
            )
    if pred.shape != target.shape:
        raise ValueError(
            f"pred {tuple(pred.shape)} and target {tuple(target.shape)} differ in "
            f"shape; paired metrics compare images pixel by pixel"
        )


class PerImageMean(Metric):
    """Mean over images of a per-image value, from a float64 sum and a count."""

    is_differentiable = False
    full_state_update = False
    total: Tensor
    count: Tensor

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_state("total", torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", torch.zeros((), dtype=torch.int64), dist_reduce_fx="sum")

    def per_image(self, pred: Tensor, target: Tensor) -> Tensor:
        """float64 N×3×H×W (0..255) → N values."""
        raise NotImplementedError

    def update(self, pred: Tensor, target: Tensor) -> None:
        _check_pair(pred, target)
        values = self.per_image(pred.to(torch.float64), target.to(torch.float64))
        self.total += values.sum().to(self.total.device)
        self.count += values.numel()

    def compute(self) -> float:
        if int(self.count) == 0:
            raise ValueError(f"{type(self).__name__}: no images were scored")
        return float(self.total / self.count)


class L1(PerImageMean):
    higher_is_better = False

    def per_image(self, pred: Tensor, target: Tensor) -> Tensor:
        return (pred - target).abs().flatten(1).mean(dim=1) / DATA_RANGE


class PSNR(PerImageMean):
    higher_is_better = True

    def per_image(self, pred: Tensor, target: Tensor) -> Tensor:
        return peak_signal_noise_ratio(
            pred, target, data_range=DATA_RANGE, reduction="none", dim=(1, 2, 3)
        )


class SSIM(PerImageMean):
    higher_is_better = True

    def per_image(self, pred: Tensor, target: Tensor) -> Tensor:
        return structural_similarity_index_measure(  # type: ignore[return-value]  # no full image
            pred, target, data_range=DATA_RANGE, reduction="none"
        )


def lpips_weights_file(net: str = "alex") -> str:
    """The torchvision backbone file LPIPS needs, by its torch hub cache name (from the weights
    catalog, `p2pbench.weights.catalog`)."""
    if net not in LPIPS_BACKBONES:
        raise InvalidValueError(
            f"unknown LPIPS network {net!r}; choose one of {', '.join(LPIPS_BACKBONES)}"
        )
    return builtin(LPIPS_WEIGHT_FILES[net]).filename


class _LPIPSOnUint8(Metric):
    """torchmetrics' LPIPS (mean over images) fed uint8 images mapped to [-1, 1]."""

    is_differentiable = False
    higher_is_better = False
    full_state_update = False

    def __init__(self, net: str, **kwargs: Any) -> None:
        from torchmetrics.image.lpip import LearnedPerceptualImagePatchSimilarity

        super().__init__(**kwargs)
        self.inner = LearnedPerceptualImagePatchSimilarity(net_type=net, reduction="mean")  # type: ignore[arg-type]

    def update(self, pred: Tensor, target: Tensor) -> None:
        _check_pair(pred, target)
        self.inner.update(pred.float() / 127.5 - 1, target.float() / 127.5 - 1)

    def compute(self) -> float:
        return float(self.inner.compute())


def make_lpips(net: str = "alex", **kwargs: Any) -> Metric | Unavailable:
    """LPIPS if its backbone weights are in the torch hub cache, else `Unavailable`.

    Nothing is downloaded: torchmetrics would fetch the backbone through torchvision.
    """
    path = hub_checkpoints_dir() / lpips_weights_file(net)
    if not path.is_file():
        return Unavailable(
            f"LPIPS ({net}) needs torchvision's ImageNet backbone weights {path.name}, not found "
            f"in {path.parent}; download them once with torchvision (e.g. torchvision.models."
            f"{LPIPS_BACKBONES[net]}.IMAGENET1K_V1.get_state_dict()) on a machine with internet "
            f"access and copy the file there"
        )
    return _LPIPSOnUint8(net, **kwargs)


class PairedMetrics:
    """L1, PSNR, SSIM and (if available) LPIPS, updated together; keys as in result files."""

    def __init__(
        self, lpips: bool = True, lpips_net: str = "alex", device: str | torch.device = "cpu"
    ) -> None:
        self.metrics: dict[str, Metric | Unavailable] = {"l1": L1(), "psnr": PSNR(), "ssim": SSIM()}
        if lpips:
            self.metrics["lpips"] = make_lpips(lpips_net)
        for m in self.metrics.values():
            if isinstance(m, Metric):
                m.to(device)

    def update(self, pred: Tensor, target: Tensor) -> None:
        for m in self.metrics.values():
            if isinstance(m, Metric):
                m.update(pred, target)

    def compute(self) -> dict[str, float | dict[str, Any]]:
        return {
            k: m.as_dict() if isinstance(m, Unavailable) else m.compute()
            for k, m in self.metrics.items()
        }
