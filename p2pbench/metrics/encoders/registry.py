"""The feature encoders behind FD, CMMD and precision/recall/density/coverage, by name.

Each entry states its network, feature layer and dimension, its named preprocessing modes (which
of them reproduce a reference implementation, and which are p2pbench's own and not comparable
with published numbers), and where its weights are found (`weights.WeightsSpec`). `build_encoder`
loads the weights (never downloading) and returns a `FeatureEncoder`: uint8 images in, float64
features out; each image passes through the network once (DINOv2 runs a batch in one call,
CLIP and VGG16 one image at a time, so that their features never depend on the batch).

- ``inception-v3``: TF 2015-12-05 InceptionV3, pool3 (FID's), 2048-d; tf, pytorch-fid, clean.
- ``dinov2-vitl14`` / ``dinov2-vitb14``: DINOv2 ViT-L/14 / ViT-B/14, the CLS token after the
  final norm, 1024-d / 768-d; dgm-eval, edm2, torch-fidelity.
- ``clip-vitl14-336``: OpenAI CLIP ViT-L/14 at 336 px, the L2-normalised image embedding,
  768-d; center-crop (CMMD's), squash (not comparable).
- ``vgg16-fc2``: VGG16, fc2 after its ReLU (torch-fidelity's precision/recall), 4096-d.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import Tensor

from p2pbench.errors import InvalidValueError
from p2pbench.metrics.availability import Unavailable
from p2pbench.metrics.encoders.weights import EncoderWeightsError, LoadedWeights, WeightsSpec
from p2pbench.registry import Registry
from p2pbench.weights.catalog import builtin


@dataclass(frozen=True)
class EncoderInfo:
    """What an encoder is: network, layer, dimension, modes, weights and its builder."""

    name: str
    network: str
    layer: str
    dim: int
    modes: tuple[str, ...]  # the first is the default
    comparable: Mapping[str, str]  # mode → the reference implementation it reproduces
    weights: WeightsSpec
    builder: str  # "module:function", imported only when the encoder is built
    requires: tuple[str, ...] = ()  # Python packages the builder needs

    @property
    def default_mode(self) -> str:
        return self.modes[0]

    def check_mode(self, mode: str) -> None:
        if mode not in self.modes:
            raise InvalidValueError(
                f"unknown mode {mode!r} for encoder {self.name}; valid: {', '.join(self.modes)}"
            )


class FeatureEncoder(Protocol):
    """uint8 N×3×H×W images → float64 N×dim features; each image passes through once."""

    info: EncoderInfo
    mode: str

    def __call__(self, images: Tensor) -> Tensor: ...

    def describe(self) -> dict[str, Any]: ...


Builder = Callable[..., FeatureEncoder]
"""builder(info, mode, weights: LoadedWeights, device, *, channels_last) → FeatureEncoder"""


def describe_encoder(encoder: FeatureEncoder, weights: LoadedWeights) -> dict[str, Any]:
    """The provenance of an encoder's features: network, layer, mode, comparability, weights."""
    info = encoder.info
    return {
        "encoder": info.name,
        "network": info.network,
        "layer": info.layer,
        "dim": info.dim,
        "mode": encoder.mode,
        "comparable_with": info.comparable.get(encoder.mode),
        "weights": weights.provenance(),
    }


ENCODERS: Registry[EncoderInfo] = Registry("encoder")

INCEPTION_WEIGHTS = WeightsSpec.of(
    builtin("inception-v3-fid"),
    option="--inception-weights",
    needs="FID, IS and KID need the TF 2015-12-05 InceptionV3 weights",
    flat=True,
)
"""Where FID's InceptionV3 weights are found; only the start of their sha256 is published."""

_DINOV2_MODES = ("dgm-eval", "edm2", "torch-fidelity")
_DINOV2_REFS = {
    "dgm-eval": "dgm-eval (PIL bicubic to 224×224, no crop)",
    "edm2": "EDM2 calculate_metrics (torch bicubic with antialias to 224×224)",
    "torch-fidelity": "torch-fidelity 0.4 (TF1-style bilinear to 224×224)",
}
ENCODERS.add(
    "inception-v3",
    EncoderInfo(
        name="inception-v3",
        network="inception-v3-tf-2015-12-05",
        layer="pool3",
        dim=2048,
        modes=("tf", "pytorch-fid", "clean"),
        comparable={"tf": "torch-fidelity", "pytorch-fid": "pytorch-fid", "clean": "clean-fid"},
        weights=INCEPTION_WEIGHTS,
        builder="p2pbench.metrics.encoders.inception:build",
    ),
)
for _size, _dim in (("l", 1024), ("b", 768)):
    ENCODERS.add(
        f"dinov2-vit{_size}14",
        EncoderInfo(
            name=f"dinov2-vit{_size}14",
            network=f"DINOv2 ViT-{_size.upper()}/14 (facebookresearch/dinov2, timm's ViT)",
            layer="CLS token after the final norm (x_norm_clstoken)",
            dim=_dim,
            modes=_DINOV2_MODES,
            # EDM2's calculate_metrics loads ViT-L/14 only: for ViT-B/14 its mode is EDM2's
            # preprocessing with no reference that computes the same features
            comparable=_DINOV2_REFS
            if _size == "l"
            else {m: r for m, r in _DINOV2_REFS.items() if m != "edm2"},
            weights=WeightsSpec.of(builtin(f"dinov2-vit{_size}14")),
            builder="p2pbench.metrics.encoders.dinov2:build",
            requires=("timm",),
        ),
    )
ENCODERS.add(
    "clip-vitl14-336",
    EncoderInfo(
        name="clip-vitl14-336",
        network="OpenAI CLIP ViT-L/14@336px vision tower (Hugging Face transformers)",
        layer="image embedding (visual projection), L2-normalised",
        dim=768,
        modes=("center-crop", "squash"),
        comparable={"center-crop": "CMMD (google-research/cmmd and its PyTorch port)"},
        weights=WeightsSpec.of(builtin("clip-vitl14-336")),
        builder="p2pbench.metrics.encoders.clip:build",
        requires=("transformers",),
    ),
)
ENCODERS.add(
    "vgg16-fc2",
    EncoderInfo(
        name="vgg16-fc2",
        network="VGG16 (torchvision layout), torch-fidelity's precision/recall extractor",
        layer="fc2 after its ReLU",
        dim=4096,
        modes=("torch-fidelity",),
        comparable={"torch-fidelity": "torch-fidelity 0.4 precision/recall (vgg16-fc2)"},
        weights=WeightsSpec.of(builtin("vgg16")),
        builder="p2pbench.metrics.encoders.vgg16:build",
    ),
)


def encoder_info(name: str) -> EncoderInfo:
    return ENCODERS.get(name)


def missing_packages(info: EncoderInfo) -> list[str]:
    return [p for p in info.requires if importlib.util.find_spec(p) is None]


def build_encoder(
    name: str,
    mode: str | None = None,
    weights: str | os.PathLike[str] | None = None,
    device: str | torch.device = "cpu",
    *,
    channels_last: bool = False,
) -> FeatureEncoder:
    """The encoder `name` in `mode` (default: its first), its weights found and checked."""
    info = ENCODERS.get(name)
    mode = mode or info.default_mode
    info.check_mode(mode)
    if missing := missing_packages(info):
        raise EncoderWeightsError(
            f"encoder {name} needs the package(s) {', '.join(missing)}: "
            "pip install 'p2pbench[encoders]'"
        )
    module, function = info.builder.split(":")
    builder: Builder = getattr(importlib.import_module(module), function)
    return builder(info, mode, weights, torch.device(device), channels_last=channels_last)


def try_build_encoder(
    name: str,
    mode: str | None = None,
    weights: str | os.PathLike[str] | None = None,
    device: str | torch.device = "cpu",
    *,
    channels_last: bool = False,
) -> FeatureEncoder | Unavailable:
    """`build_encoder`, or `Unavailable` with the reason (missing weights or packages)."""
    try:
        return build_encoder(name, mode, weights, device, channels_last=channels_last)
    except EncoderWeightsError as e:
        return Unavailable(str(e))
