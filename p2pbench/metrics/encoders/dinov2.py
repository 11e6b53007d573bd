"""DINOv2 ViT-L/14 and ViT-B/14: the CLS token after the final norm, on timm's ViT.

Every mode feeds the network a 224×224 float32 image normalised with the ImageNet mean and std;
they differ only in how the uint8 image gets there:

- ``dgm-eval`` (layer6ai-labs/dgm-eval, the default): the image as a PIL RGB image, resized by
  PIL bicubic to 224×224 (squashed, no crop) and kept uint8, then ``ToTensor`` (float32 / 255)
  and ``Normalize(mean, std)``. EDM2's ``resize_mode='pil'`` does exactly the same.
- ``edm2`` (NVlabs/edm2 ``calculate_metrics.DINOv2Detector``, its default ``'torch'`` resize):
  ``F.interpolate`` of the float32 0..255 image to 224×224, bicubic with antialias, neither
  clamped nor rounded; then / 255, minus the mean, divided by the std.
- ``torch-fidelity`` (torch-fidelity 0.4 ``FeatureExtractorDinoV2``): the float32 0..255 image
  resized by its TF1-style bilinear interpolation (align_corners=False) to 224×224, then
  normalised with 255 × mean and 255 × std, still on the 0..255 scale.

The network is timm's ``vit_{large,base}_patch14_dinov2`` at ``img_size=224``, loaded strictly
from Meta's hub checkpoint (``dinov2_vit?14_pretrain.pth``), whose keys are timm's one for one
except ``mask_token`` (unused for features; optional here, so timm-format files load too). The
checkpoint's position embedding covers a 37×37 grid (518 px). The hub model resamples it for
every 224 px input with ``F.interpolate(scale_factor=(16.1/37, 16.1/37), mode="bicubic",
antialias=False)`` in float32 (``interpolate_offset=0.1``, a "historical kludge" that PyTorch
also uses as the coordinate scale); timm's own resampling asks for ``size=(16, 16)`` and lands
elsewhere, by percents of the embedding. So the hub's 1×257×dim embedding is computed once here,
by the hub's exact call, and becomes timm's fixed ``pos_embed``; with ``dynamic_img_size`` off
timm adds it as is. ``forward_features(x)[:, 0]`` is then the hub's ``x_norm_clstoken``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor, nn

from p2pbench.metrics.encoders.preprocess import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    check_uint8_images,
    normalize,
    pil_resize,
    torch_bicubic,
    torch_fidelity_imagenet,
)
from p2pbench.metrics.encoders.registry import EncoderInfo, describe_encoder
from p2pbench.metrics.encoders.weights import EncoderWeightsError, LoadedWeights, load_weights

SIZE = 224
PATCH = 14
GRID = SIZE // PATCH  # 16 patches a side at 224 px
HUB_GRID = 37  # the checkpoint's position grid (518 px)
INTERPOLATE_OFFSET = 0.1  # the hub's interpolate_offset for the models without registers
OPTIONAL_KEYS = ("mask_token",)  # in Meta's checkpoint, unused for features, absent in timm's

# encoder name → (timm model, architecture, embedding dim)
ARCHS: dict[str, tuple[str, str, int]] = {
    "dinov2-vitl14": ("vit_large_patch14_dinov2", "ViT-L/14", 1024),
    "dinov2-vitb14": ("vit_base_patch14_dinov2", "ViT-B/14", 768),
}

Preprocess = Callable[[Tensor], Tensor]
"""uint8 N×3×H×W → float32 N×3×224×224, normalised as the network expects."""


def preprocess_dgm_eval(x: Tensor) -> Tensor:
    """PIL bicubic to 224×224 on uint8, / 255, ImageNet normalisation (dgm-eval)."""
    y = pil_resize(x, (SIZE, SIZE), Image.Resampling.BICUBIC).to(torch.float32) / 255
    return normalize(y, IMAGENET_MEAN, IMAGENET_STD)


def preprocess_edm2(x: Tensor) -> Tensor:
    """torch bicubic with antialias on 0..255 floats, / 255, ImageNet normalisation (EDM2)."""
    y = torch_bicubic(x.to(torch.float32), (SIZE, SIZE), antialias=True) / 255
    return normalize(y, IMAGENET_MEAN, IMAGENET_STD)


def preprocess_torch_fidelity(x: Tensor) -> Tensor:
    """TF1-style bilinear on 0..255 floats, normalised by 255 × mean and std (torch-fidelity)."""
    return torch_fidelity_imagenet(x, SIZE)


PREPROCESSING: dict[str, Preprocess] = {
    "dgm-eval": preprocess_dgm_eval,
    "edm2": preprocess_edm2,
    "torch-fidelity": preprocess_torch_fidelity,
}


def hub_pos_embed(pos_embed: Tensor, grid: int = GRID) -> Tensor:
    """The hub's ``interpolate_pos_encoding`` of a 1×(1+M²)×dim embedding for a square input of
    grid×grid patches: 1×(1+grid²)×dim float32, the class entry kept as is."""
    pos = pos_embed.detach().float()
    n = pos.shape[1] - 1
    m = int(round(n**0.5))
    if m * m != n:
        raise ValueError(f"position embedding of {n} patch entries is not a square grid")
    if m == grid:
        return pos
    dim = pos.shape[-1]
    scale = float(grid + INTERPOLATE_OFFSET) / m
    patches = pos[:, 1:].reshape(1, m, m, dim).permute(0, 3, 1, 2)
    patches = F.interpolate(patches, scale_factor=(scale, scale), mode="bicubic", antialias=False)
    if tuple(patches.shape[-2:]) != (grid, grid):
        raise ValueError(f"interpolated grid {tuple(patches.shape[-2:])}, expected {grid}×{grid}")
    patches = patches.permute(0, 2, 3, 1).reshape(1, grid * grid, dim)
    return torch.cat((pos[:, :1], patches), dim=1)


def _timm_model(name: str) -> nn.Module:
    """timm's DINOv2 ViT at 224 px with no head, its parameters on the meta device."""
    import timm

    with torch.device("meta"):
        return timm.create_model(ARCHS[name][0], pretrained=False, img_size=SIZE, num_classes=0)


def hub_shapes(name: str, model: nn.Module | None = None) -> dict[str, tuple[int, ...]]:
    """Every key of Meta's hub checkpoint for encoder `name` and its shape (derived from
    timm's model: its keys, the 37×37 position grid, and ``mask_token``)."""
    model = _timm_model(name) if model is None else model
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    dim = ARCHS[name][2]
    shapes["pos_embed"] = (1, 1 + HUB_GRID * HUB_GRID, dim)
    shapes["mask_token"] = (1, dim)
    return shapes


def _describe_mismatch(name: str, sd: Mapping[str, Tensor], shapes: Mapping[str, tuple]) -> str:
    """Why `sd` is not the hub checkpoint of `name`, or '' if it is."""
    missing = [k for k in shapes if k not in sd and k not in OPTIONAL_KEYS]
    unexpected = [k for k in sd if k not in shapes]
    wrong = [k for k in shapes if k in sd and tuple(sd[k].shape) != shapes[k]]
    problems = []
    for what, keys in (("missing", missing), ("unexpected", unexpected)):
        if keys:
            more = f" (+{len(keys) - 5} more)" if len(keys) > 5 else ""
            problems.append(f"{len(keys)} {what} key(s): {', '.join(keys[:5])}{more}")
    for k in wrong[:5]:
        problems.append(f"{k} has shape {tuple(sd[k].shape)}, expected {shapes[k]}")
    if len(wrong) > 5:
        problems.append(f"(+{len(wrong) - 5} more of the wrong shape)")
    if "cls_token" in sd and sd["cls_token"].shape[-1] != ARCHS[name][2]:
        dims = {dim: arch for _, arch, dim in ARCHS.values()}
        found = dims.get(sd["cls_token"].shape[-1], "an unknown ViT")
        problems.insert(0, f"its embedding is {sd['cls_token'].shape[-1]}-d, as in {found}")
    return "; ".join(problems)


def convert_state_dict(
    info: EncoderInfo, weights: LoadedWeights, model: nn.Module
) -> dict[str, Tensor]:
    """Meta's hub checkpoint as timm's 224 px state dict; `EncoderWeightsError` if it is not
    the checkpoint of encoder `info`."""
    sd = weights.state_dict
    if problems := _describe_mismatch(info.name, sd, hub_shapes(info.name, model)):
        files = " or ".join(info.weights.hub_files) or "the hub checkpoint"
        raise EncoderWeightsError(
            f"{weights.path} is not DINOv2 {ARCHS[info.name][1]} weights in the "
            f"facebookresearch/dinov2 hub format ({files}): {problems}"
        )
    out = {k: v.detach().to(torch.float32).contiguous() for k, v in sd.items()}
    for key in OPTIONAL_KEYS:
        out.pop(key, None)
    out["pos_embed"] = hub_pos_embed(out["pos_embed"])
    return out


class DINOv2Encoder:
    """DINOv2's CLS token after the final norm (x_norm_clstoken), in float64."""

    def __init__(
        self,
        info: EncoderInfo,
        mode: str,
        model: nn.Module,
        weights: LoadedWeights,
        device: torch.device,
        channels_last: bool = False,
    ) -> None:
        self.info, self.mode, self.model, self.weights = info, mode, model, weights
        self.device, self.channels_last = device, channels_last
        self.preprocess = PREPROCESSING[mode]

    @torch.inference_mode()
    def __call__(self, images: Tensor) -> Tensor:
        check_uint8_images(images)
        x = self.preprocess(images.to(self.device))
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.model.forward_features(x)[:, 0].to(torch.float64)  # type: ignore[operator]

    def describe(self) -> dict[str, Any]:
        return describe_encoder(self, self.weights)


def build(
    info: EncoderInfo,
    mode: str,
    weights: str | os.PathLike[str] | None,
    device: torch.device,
    *,
    channels_last: bool = False,
) -> DINOv2Encoder:
    """The DINOv2 encoder `info.name` in `mode`, its hub weights found, checked and loaded."""
    info.check_mode(mode)
    if info.name not in ARCHS:
        raise ValueError(f"no DINOv2 architecture for encoder {info.name!r}")
    loaded = load_weights(info.name, info.weights, weights)
    model = _timm_model(info.name)
    model.load_state_dict(convert_state_dict(info, loaded, model), strict=True, assign=True)
    model = model.eval().requires_grad_(False).to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    provenance = dataclasses.replace(loaded, state_dict={})  # the tensors live in the model
    return DINOv2Encoder(info, mode, model, provenance, device, channels_last)
