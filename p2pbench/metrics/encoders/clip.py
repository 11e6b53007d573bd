"""OpenAI CLIP ViT-L/14@336px image embeddings (CMMD's encoder) as a `FeatureEncoder`.

The network is Hugging Face transformers' ``CLIPVisionModelWithProjection`` built from a fixed
`CLIPVisionConfig` (`VISION_CONFIG`) and loaded strictly from the vision half of Hugging Face's
``openai/clip-vit-large-patch14-336`` checkpoint; the text tower's keys are ignored, so both the
full ``CLIPModel`` file and a vision-only one work. OpenAI's own TorchScript ``.pt`` is not read
(it cannot be loaded without unpickling code). Attention runs in transformers' "eager"
implementation: plain matmul and softmax, the same kernels on every device and version, where
"sdpa" lets PyTorch choose a backend per device; it is also what the CMMD PyTorch port ran in
2024 (transformers had no SDPA for CLIP before huggingface/transformers#31940).

Features are ``image_embeds`` (the visual projection of the final CLS token, 768-d),
L2-normalised in float32 as the reference does, then returned in float64.

Modes (uint8 images in; pixels scaled to [0, 1] in float32, normalised with CLIP's mean and std):

- ``center-crop`` (CMMD's): the largest centred square, its offsets rounded down as in CMMD's
  ``_center_crop_and_resize`` (``(h - s) // 2``), then PIL bicubic to 336×336. On a 2:1
  Cityscapes frame this throws away half the image: a quarter on the left, a quarter on the right.
  (p2pbench's protocols score square images, the pix2pix protocol's 256×256 Cityscapes frames
  included; on those the crop removes nothing and the two modes agree.)
- ``squash``: the whole frame resized to 336×336 by PIL bicubic, aspect ratio not kept and no
  pixel thrown away. p2pbench's own: its CMMD values are not comparable with published ones.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any

import torch
from PIL import Image
from torch import Tensor

from p2pbench.errors import InvalidValueError
from p2pbench.metrics.encoders.preprocess import check_uint8_images, normalize, pil_resize
from p2pbench.metrics.encoders.registry import EncoderInfo, describe_encoder
from p2pbench.metrics.encoders.weights import EncoderWeightsError, LoadedWeights, load_weights

# The vision_config of openai/clip-vit-large-patch14-336 (its config.json on the Hugging Face
# hub), equal to what OpenAI's clip/model.py `build_model` infers from ViT-L-14-336px.pt:
# width 1024, 24 layers, width // 64 = 16 heads, 4× MLP, 14-px patches, 336-px input, a 768-d
# embedding, QuickGELU, LayerNorm eps 1e-5. The shapes are checked against the weights on load.
VISION_CONFIG: dict[str, Any] = {
    "hidden_size": 1024,
    "intermediate_size": 4096,
    "num_hidden_layers": 24,
    "num_attention_heads": 16,
    "num_channels": 3,
    "image_size": 336,
    "patch_size": 14,
    "projection_dim": 768,
    "hidden_act": "quick_gelu",
    "layer_norm_eps": 1e-5,
    "attention_dropout": 0.0,
}
ATTN_IMPLEMENTATION = "eager"
SIZE = 336
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
VISION_PREFIXES = ("vision_model.", "visual_projection.")
IGNORED_PREFIXES = ("text_model.", "text_projection.", "logit_scale")
SQUASH_NOTE = (
    "squash: the whole frame resized to 336×336 (aspect ratio not kept), p2pbench's own "
    "preprocessing; not comparable with published CMMD, which centre-crops a square"
)


def vision_config() -> Any:
    """The `CLIPVisionConfig` of ViT-L/14@336px, with eager attention."""
    from transformers import CLIPVisionConfig

    # transformers 5's typed config omits attn_implementation, which it still accepts
    return CLIPVisionConfig(**VISION_CONFIG, attn_implementation=ATTN_IMPLEMENTATION)  # type: ignore[call-arg]


def new_model() -> torch.nn.Module:
    """An uninitialised CPU vision tower (its random initialisation, ~6 s, skipped)."""
    from transformers import CLIPVisionModelWithProjection

    try:
        from transformers.initialization import no_init_weights
    except ImportError:  # transformers 4.x
        from transformers.modeling_utils import no_init_weights  # type: ignore[attr-defined,no-redef]
    with no_init_weights():
        return CLIPVisionModelWithProjection(vision_config())


def expected_shapes() -> dict[str, tuple[int, ...]]:
    """The state dict keys and shapes of the vision tower (built on the meta device)."""
    from transformers import CLIPVisionModelWithProjection

    with torch.device("meta"):
        model = CLIPVisionModelWithProjection(vision_config())
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def vision_state_dict(sd: Mapping[str, Tensor], source: str) -> dict[str, Tensor]:
    """The vision tower's tensors of a CLIP checkpoint, checked against `expected_shapes`
    (text keys and position_ids buffers ignored); `EncoderWeightsError` says what is wrong."""
    expected = expected_shapes()
    vision = {k: v for k, v in sd.items() if k.startswith(VISION_PREFIXES)}
    vision = {k: v for k, v in vision.items() if not k.endswith(".position_ids")}
    other = [k for k in sd if not k.startswith(VISION_PREFIXES + IGNORED_PREFIXES)]
    other = [k for k in other if not k.endswith(".position_ids")]
    missing = [k for k in expected if k not in vision]
    unexpected = [k for k in vision if k not in expected] + other
    wrong = [
        f"{k}: {tuple(v.shape)}, expected {expected[k]}"
        for k, v in vision.items()
        if k in expected and tuple(v.shape) != expected[k]
    ]
    if not vision:
        raise EncoderWeightsError(
            f"{source} holds no CLIP vision weights (no vision_model.* or visual_projection.* "
            "keys): expected Hugging Face's openai/clip-vit-large-patch14-336 checkpoint "
            "(model.safetensors or pytorch_model.bin), not OpenAI's TorchScript .pt"
        )
    problems = _listed("missing", missing) + _listed("unexpected", unexpected)
    problems += _listed("wrong shape", wrong)
    if problems:
        raise EncoderWeightsError(
            f"{source} is not a CLIP ViT-L/14@336px checkpoint: " + "; ".join(problems)
        )
    return vision


def _listed(what: str, keys: list[str], show: int = 3) -> list[str]:
    if not keys:
        return []
    more = f" and {len(keys) - show} more" if len(keys) > show else ""
    return [f"{len(keys)} {what} ({', '.join(keys[:show])}{more})"]


def crop_square(x: Tensor) -> Tensor:
    """The largest centred square, offsets rounded down as CMMD's ``(h - s) // 2``."""
    h, w = x.shape[-2:]
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    return x[..., top : top + s, left : left + s]


def preprocess(images: Tensor, mode: str) -> Tensor:
    """uint8 N×3×H×W → the network's float32 N×3×336×336 input in `mode` (on the CPU)."""
    check_uint8_images(images)
    x = images.cpu()
    if mode == "center-crop":
        x = crop_square(x)
    elif mode != "squash":
        raise InvalidValueError(f"unknown mode {mode!r}; valid: center-crop, squash")
    x = pil_resize(x, (SIZE, SIZE), Image.Resampling.BICUBIC)
    return normalize(x.to(torch.float32) / 255.0, CLIP_MEAN, CLIP_STD)


class CLIPEncoder:
    """L2-normalised CLIP ViT-L/14@336px image embeddings (768-d), in float64."""

    def __init__(
        self,
        info: EncoderInfo,
        mode: str,
        model: torch.nn.Module,
        weights: LoadedWeights,
        device: torch.device,
    ) -> None:
        info.check_mode(mode)
        self.info, self.mode, self.model, self.weights = info, mode, model, weights
        self.device = device

    @torch.inference_mode()
    def __call__(self, images: Tensor) -> Tensor:
        x = preprocess(images, self.mode)
        rows = [self._embed(x[i : i + 1]) for i in range(x.shape[0])]
        if not rows:
            return torch.empty(0, self.info.dim, dtype=torch.float64)
        return torch.cat(rows).to(torch.float64)

    def _embed(self, x: Tensor) -> Tensor:
        """One image's embedding, L2-normalised in float32 (CMMD's order), on the CPU."""
        e = self.model(pixel_values=x.to(self.device)).image_embeds.float().cpu()
        return e / torch.linalg.norm(e, dim=-1, keepdim=True)

    def describe(self) -> dict[str, Any]:
        out = describe_encoder(self, self.weights)
        out["attn_implementation"] = ATTN_IMPLEMENTATION
        if self.mode == "squash":
            out["note"] = SQUASH_NOTE
        return out


def build(
    info: EncoderInfo,
    mode: str,
    weights: str | os.PathLike[str] | None,
    device: torch.device,
    *,
    channels_last: bool = False,
) -> CLIPEncoder:
    """The CLIP encoder in `mode` with its checked weights (`channels_last` has no effect: the
    patch embedding is the only convolution)."""
    info.check_mode(mode)
    loaded = load_weights(info.name, info.weights, weights)
    vision = vision_state_dict(loaded.state_dict, str(loaded.path))
    model = new_model()
    model.load_state_dict(vision, strict=True)
    model.eval().requires_grad_(False)
    provenance = dataclasses.replace(loaded, state_dict={})  # the tensors live in the model
    return CLIPEncoder(info, mode, model.to(device), provenance, device)
