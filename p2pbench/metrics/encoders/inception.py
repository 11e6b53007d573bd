"""The FID InceptionV3 feature extractor and its named preprocessing modes.

One forward pass gives, per image, the 2048-d pool3 features (FID, KID) and the 1008
``logits_unbiased`` (the last layer without its bias; IS), returned in float64 for accumulation.
The network is torch-fidelity's ``FeatureExtractorInceptionV3`` built from its own blocks, so
its key names and arithmetic are that library's; only the weights loading differs (see
`load_inception_weights`, on the encoders' shared loader `p2pbench.metrics.encoders.weights`:
hash-checked, ``weights_only=True``, no download).

Weights lookup order: an explicit path (``--inception-weights``),
``$P2PBENCH_INCEPTION_WEIGHTS``, then the torch hub cache ``$TORCH_HOME/hub/checkpoints/``
under torch-fidelity's and pytorch-fid's file names (`INCEPTION_WEIGHTS`); both files hold the
same 566-key state dict, and their names carry the start of its sha256, checked before anything
reads them.

Preprocessing modes (uint8 N×3×H×W in; recorded in every result):

- ``tf`` (default): torch-fidelity's, i.e. the TF/TTUR protocol most papers follow: TF1-compatible
  bilinear resize to 299 on floats 0..255, then (x-128)/128. Bit-identical to torch-fidelity on
  CPU (its resize is ~1e-4 off on GPU, by its own documentation).
- ``pytorch-fid``: pytorch-fid's: x/255, PyTorch bilinear resize (align_corners=False, no
  antialias), then 2x-1.
- ``clean``: clean-fid's: PIL bicubic resize of each channel as a float image, clipped to
  0..255, then (x-128)/128; the same network as the other modes (clean-fid runs a TorchScript
  port of it, so its features can differ in the last float bits).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor, nn
from torch.nn.utils.fusion import fuse_conv_bn_eval
from torch_fidelity.feature_extractor_inceptionv3 import (
    BasicConv2d,
    InceptionA,
    InceptionB,
    InceptionC,
    InceptionD,
    InceptionE_1,
    InceptionE_2,
)
from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x

from p2pbench.metrics.availability import Unavailable
from p2pbench.metrics.encoders.registry import INCEPTION_WEIGHTS, EncoderInfo, describe_encoder
from p2pbench.metrics.encoders.weights import (
    EncoderWeightsError,
    LoadedWeights,
    find_weights,
    load_weights,
)
from p2pbench.registry import Registry

SIZE = 299
NETWORK = "inception-v3-tf-2015-12-05"
Preprocess = Callable[[Tensor], Tensor]
"""uint8 N×3×H×W → float32 N×3×299×299, normalised as the network expects."""

PREPROCESSING: Registry[Preprocess] = Registry("FID preprocessing mode")

ENCODER = "inception-v3"
NUM_KEYS = 566
"""Entries of the FID InceptionV3's state dict (torch-fidelity / pytorch-fid layout)."""


def find_inception_weights(path: str | os.PathLike[str] | None = None) -> tuple[Path, str]:
    """(file, how it was found) by the lookup order; `EncoderWeightsNotFound` if none."""
    return find_weights(ENCODER, INCEPTION_WEIGHTS, path)


def load_inception_weights(path: str | os.PathLike[str] | None = None) -> LoadedWeights:
    """Find, hash-check and safely read the weights, and check their 566 entries."""
    loaded = load_weights(ENCODER, INCEPTION_WEIGHTS, path)
    if len(loaded.state_dict) != NUM_KEYS:
        raise EncoderWeightsError(
            f"{loaded.path}: expected the {NUM_KEYS} state_dict entries of the FID InceptionV3 "
            f"(torch-fidelity / pytorch-fid layout), found {len(loaded.state_dict)}"
        )
    return loaded


@PREPROCESSING.register("tf")
def preprocess_tf(x: Tensor) -> Tensor:
    y = interpolate_bilinear_2d_like_tensorflow1x(
        x.to(torch.float32), size=(SIZE, SIZE), align_corners=False
    )
    return (y - 128) / 128


@PREPROCESSING.register("pytorch-fid")
def preprocess_pytorch_fid(x: Tensor) -> Tensor:
    y = F.interpolate(
        x.to(torch.float32) / 255, size=(SIZE, SIZE), mode="bilinear", align_corners=False
    )
    return 2 * y - 1


def clean_resize(image: np.ndarray) -> np.ndarray:
    """clean-fid's resize of one uint8 H×W×3 image → float32 299×299×3 in [0, 255]."""
    channels = [
        np.asarray(
            Image.fromarray(image[:, :, c].astype(np.float32)).resize(
                (SIZE, SIZE), Image.Resampling.BICUBIC
            )
        ).clip(0, 255)
        for c in range(image.shape[2])
    ]
    return np.stack(channels, axis=2).astype(np.float32)


@PREPROCESSING.register("clean")
def preprocess_clean(x: Tensor) -> Tensor:
    hwc = x.permute(0, 2, 3, 1).cpu().numpy()
    y = torch.from_numpy(np.stack([clean_resize(im) for im in hwc])).permute(0, 3, 1, 2)
    return (y.contiguous().to(x.device) - 128) / 128


class InceptionV3(nn.Module):
    """torch-fidelity's FID InceptionV3 (same modules, key names and forward arithmetic)."""

    def __init__(self) -> None:
        super().__init__()
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, kernel_size=3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, kernel_size=3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, kernel_size=3, padding=1)
        self.MaxPool_1 = nn.MaxPool2d(kernel_size=3, stride=2)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, kernel_size=1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, kernel_size=3)
        self.MaxPool_2 = nn.MaxPool2d(kernel_size=3, stride=2)
        self.Mixed_5b = InceptionA(192, pool_features=32)
        self.Mixed_5c = InceptionA(256, pool_features=64)
        self.Mixed_5d = InceptionA(288, pool_features=64)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = InceptionC(768, channels_7x7=128)
        self.Mixed_6c = InceptionC(768, channels_7x7=160)
        self.Mixed_6d = InceptionC(768, channels_7x7=160)
        self.Mixed_6e = InceptionC(768, channels_7x7=192)
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = InceptionE_1(1280)
        self.Mixed_7c = InceptionE_2(2048)
        self.AvgPool = nn.AdaptiveAvgPool2d(output_size=(1, 1))
        self.fc = nn.Linear(2048, 1008)

    @classmethod
    def from_state_dict(cls, state_dict: dict[str, Tensor]) -> InceptionV3:
        """Built on the meta device and filled strictly from `state_dict`, in eval mode."""
        with torch.device("meta"):
            net = cls()
        try:
            net.load_state_dict(state_dict, strict=True, assign=True)
        except RuntimeError as e:
            raise EncoderWeightsError(
                f"the weights do not fit the FID InceptionV3 (torch-fidelity/pytorch-fid key "
                f"names and shapes): {e}"
            ) from e
        return net.to(torch.float32).requires_grad_(False).eval()

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Normalised float32 N×3×299×299 → (pool3 N×2048, logits_unbiased N×1008), float32."""
        for name in (
            "Conv2d_1a_3x3",
            "Conv2d_2a_3x3",
            "Conv2d_2b_3x3",
            "MaxPool_1",
            "Conv2d_3b_1x1",
            "Conv2d_4a_3x3",
            "MaxPool_2",
            "Mixed_5b",
            "Mixed_5c",
            "Mixed_5d",
            "Mixed_6a",
            "Mixed_6b",
            "Mixed_6c",
            "Mixed_6d",
            "Mixed_6e",
            "Mixed_7a",
            "Mixed_7b",
            "Mixed_7c",
            "AvgPool",
        ):
            x = getattr(self, name)(x)
        pool3 = torch.flatten(x, 1)
        return pool3, pool3.mm(self.fc.weight.T)


@dataclass(frozen=True)
class InceptionFeatures:
    """Per-image features in float64 (exact copies of the network's float32 outputs)."""

    pool3: Tensor  # N×2048, FID and KID
    logits_unbiased: Tensor  # N×1008, IS


class InceptionExtractor:
    """Images (uint8) → `InceptionFeatures` under one preprocessing mode."""

    def __init__(
        self,
        weights: LoadedWeights,
        mode: str = "tf",
        device: str | torch.device = "cpu",
        *,
        channels_last: bool = False,
    ) -> None:
        self.preprocess = PREPROCESSING.get(mode)
        self.mode = mode
        self.weights = weights
        self.device = torch.device(device)
        self.channels_last = channels_last  # the same features up to float rounding
        self.net = InceptionV3.from_state_dict(weights.state_dict).to(self.device)
        if channels_last:  # the fast path: batch norms folded into their convolutions
            fold_batch_norms(self.net)
            self.net.to(memory_format=torch.channels_last)

    def __call__(self, images: Tensor | Sequence[Tensor]) -> InceptionFeatures:
        """uint8 N×3×H×W, or a sequence of uint8 3×H×W images of any sizes."""
        if isinstance(images, Tensor):
            _check_uint8(images, 4)
            batch = self.preprocess(images.to(self.device))
        else:
            for im in images:
                _check_uint8(im, 3)
            batch = torch.cat([self.preprocess(im[None].to(self.device)) for im in images])
        if self.channels_last:
            batch = batch.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            pool3, logits = self.net(batch)
        return InceptionFeatures(pool3.to(torch.float64), logits.to(torch.float64))

    def describe(self) -> dict[str, Any]:
        return {"network": NETWORK, "mode": self.mode, "weights": self.weights.provenance()}


def fold_batch_norms(net: nn.Module) -> nn.Module:
    """Fold every conv → batch norm pair (torch-fidelity's `BasicConv2d`, eval mode) into one
    convolution with a bias, in place: the same function up to float rounding (features within
    1e-6 relative, measured), one memory pass fewer per layer."""
    for module in net.modules():
        if isinstance(module, BasicConv2d) and isinstance(module.bn, nn.BatchNorm2d):
            module.conv = fuse_conv_bn_eval(module.conv, module.bn)
            module.bn = nn.Identity()
    return net


def _check_uint8(x: Tensor, ndim: int) -> None:
    if x.dtype != torch.uint8 or x.ndim != ndim or x.shape[-3] != 3:
        shape = "N×3×H×W" if ndim == 4 else "3×H×W"
        raise ValueError(
            f"expected uint8 {shape} RGB images, found {x.dtype} of shape {tuple(x.shape)}; "
            f"turn [-1, 1] images into uint8 with p2pbench.data.quantize_uint8 first"
        )


def build_extractor(
    mode: str = "tf",
    weights: LoadedWeights | str | os.PathLike[str] | None = None,
    device: str | torch.device = "cpu",
    *,
    channels_last: bool = False,
) -> InceptionExtractor:
    """An extractor; `weights` is loaded weights, a path, or None (the lookup order)."""
    PREPROCESSING.get(mode)  # an unknown mode fails before the weights are read
    if not isinstance(weights, LoadedWeights):
        weights = load_inception_weights(weights)
    return InceptionExtractor(weights, mode, device, channels_last=channels_last)


def try_build_extractor(
    mode: str = "tf",
    weights: LoadedWeights | str | os.PathLike[str] | None = None,
    device: str | torch.device = "cpu",
    *,
    channels_last: bool = False,
) -> InceptionExtractor | Unavailable:
    """`build_extractor`, or `Unavailable` with the reason when the weights cannot be used."""
    try:
        return build_extractor(mode, weights, device, channels_last=channels_last)
    except EncoderWeightsError as e:
        return Unavailable(str(e))


class InceptionEncoder:
    """pool3 (2048-d) of the FID InceptionV3, in float64."""

    def __init__(self, info: EncoderInfo, extractor: InceptionExtractor) -> None:
        self.info, self.extractor, self.mode = info, extractor, extractor.mode

    def __call__(self, images: Tensor) -> Tensor:
        return self.extractor(images).pool3

    def describe(self) -> dict[str, Any]:
        return describe_encoder(self, self.extractor.weights)


def build(
    info: EncoderInfo,
    mode: str,
    weights: str | os.PathLike[str] | None,
    device: torch.device,
    *,
    channels_last: bool = False,
) -> InceptionEncoder:
    loaded = load_inception_weights(weights)
    return InceptionEncoder(
        info, InceptionExtractor(loaded, mode, device, channels_last=channels_last)
    )
