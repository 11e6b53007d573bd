"""VGG16's fc2 features after their ReLU as a `FeatureEncoder`: torch-fidelity 0.4's
precision/recall extractor (``FeatureExtractorVGG16``, layer ``fc2_relu``).

The network is torchvision's ``vgg16`` built without weights and loaded strictly from the
state dict of torchvision's ImageNet weights (``vgg16-397923af.pth``, the file torch-fidelity
downloads through ``VGG16_Weights.IMAGENET1K_V1``); its classifier is cut after the second
linear layer, as torch-fidelity deletes ``classifier[6]``, ``[5]`` and ``[4]``.

Preprocessing (mode ``torch-fidelity``), as torch-fidelity's: uint8 → float32 0..255,
TF1-compatible bilinear resize to 224×224 (``align_corners=False``, no antialias, no crop),
then ``(x - 255·mean) / (255·std)`` with the ImageNet mean and std. The float32 features are
returned in float64.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import torch
import torch.nn.functional as F
import torchvision
from torch import Tensor, nn

from p2pbench.metrics.encoders.preprocess import check_uint8_images, torch_fidelity_imagenet
from p2pbench.metrics.encoders.registry import EncoderInfo, describe_encoder
from p2pbench.metrics.encoders.weights import EncoderWeightsError, LoadedWeights, load_weights

SIZE = 224
FC2 = 4  # classifier[:4] = fc1, ReLU, Dropout, fc2 (torch-fidelity deletes [6], [5], [4])
SHOWN = 5  # mismatched keys listed in an error message


def preprocess_torch_fidelity(x: Tensor) -> Tensor:
    """uint8 N×3×H×W → float32 N×3×224×224, resized and normalised as torch-fidelity's VGG16."""
    return torch_fidelity_imagenet(x, SIZE)


def _mismatches(state_dict: dict[str, Tensor], template: dict[str, Tensor]) -> list[str]:
    """What keeps `state_dict` from loading strictly into torchvision's VGG16: wrong shapes or
    dtypes first, then missing and unexpected keys."""
    problems = []
    for key, want in template.items():
        got = state_dict.get(key)
        if got is None:
            continue
        if got.shape != want.shape:
            problems.append(f"{key} has shape {tuple(got.shape)}, expected {tuple(want.shape)}")
        elif not got.is_floating_point():
            problems.append(f"{key} is {got.dtype}, expected a floating dtype")
    problems += [f"missing {k}" for k in template if k not in state_dict]
    return problems + [f"unexpected {k}" for k in state_dict if k not in template]


def vgg16_fc2(weights: LoadedWeights) -> nn.Module:
    """torchvision's VGG16 loaded strictly from `weights`, its classifier cut after fc2."""
    with torch.device("meta"):
        net = torchvision.models.vgg16(weights=None)
    if problems := _mismatches(weights.state_dict, net.state_dict()):
        shown = "; ".join(problems[:SHOWN]) + ("; ..." if len(problems) > SHOWN else "")
        raise EncoderWeightsError(
            f"{weights.path} is not a torchvision VGG16 state dict ({len(problems)} "
            f"problem(s): {shown}). vgg16-fc2 needs torchvision's vgg16-397923af.pth"
        )
    state = {k: v.to(torch.float32) for k, v in weights.state_dict.items()}
    net.load_state_dict(state, strict=True, assign=True)
    net.classifier = net.classifier[:FC2]
    return net.eval().requires_grad_(False)


class VGG16Encoder:
    """fc2 after its ReLU (4096-d) of torchvision's VGG16, in float64."""

    def __init__(
        self,
        info: EncoderInfo,
        mode: str,
        weights: LoadedWeights,
        device: torch.device,
        *,
        channels_last: bool = False,
    ) -> None:
        info.check_mode(mode)
        self.info, self.mode, self.device = info, mode, device
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.net = vgg16_fc2(weights).to(device, memory_format=self.memory_format)  # type: ignore[call-overload]
        self.weights = dataclasses.replace(weights, state_dict={})  # the tensors live in the net

    def _one(self, image: Tensor) -> Tensor:
        x = preprocess_torch_fidelity(image[None].to(self.device))
        return F.relu(self.net(x.contiguous(memory_format=self.memory_format)))[0]

    def __call__(self, images: Tensor) -> Tensor:
        check_uint8_images(images)
        with torch.inference_mode():
            rows = [self._one(image).to(torch.float64) for image in images]
        if not rows:
            return torch.empty(0, self.info.dim, dtype=torch.float64, device=self.device)
        return torch.stack(rows)

    def describe(self) -> dict[str, Any]:
        return describe_encoder(self, self.weights)


def build(
    info: EncoderInfo,
    mode: str,
    weights_path: str | os.PathLike[str] | None,
    device: torch.device,
    *,
    channels_last: bool = False,
) -> VGG16Encoder:
    """The vgg16-fc2 encoder, its weights found and checked (never downloaded)."""
    weights = load_weights(info.name, info.weights, weights_path)
    return VGG16Encoder(info, mode, weights, device, channels_last=channels_last)
