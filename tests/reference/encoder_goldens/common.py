"""Fixed images and deterministic seeded weights for the encoder goldens.

Neither depends on torch's module initialisation or global RNG: every tensor is drawn from its
own `torch.Generator`, seeded by the seed and the crc32 of its key, in float32 on the CPU, so
the golden script (run once, elsewhere) and the tests rebuild the same weights bit for bit.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

GOLDENS = Path(__file__).resolve().parent.parent / "goldens" / "encoders"

Init = Callable[[str, Tensor, torch.Generator], Tensor]
"""(key, template tensor, generator) → the seeded tensor of the template's shape."""


def fixed_images() -> list[np.ndarray]:
    """Three uint8 H×W×3 images: a 2:1 frame (a Cityscapes-like 96×192), a square 80×80 and a
    tall 120×72, with smooth gradients, edges and noise, so that resizers differ on them."""
    rng = np.random.default_rng(20261130)
    images = []
    for h, w in ((96, 192), (80, 80), (120, 72)):
        y, x = np.mgrid[0:h, 0:w].astype(np.float64)
        base = np.stack(
            [
                127 + 100 * np.sin(x / 7.0 + y / 11.0),
                127 + 100 * np.cos(y / 5.0),
                255 * ((x // 16 + y // 16) % 2),
            ],
            axis=-1,
        )
        noisy = base + rng.normal(0, 20, size=(h, w, 3))
        images.append(np.clip(np.rint(noisy), 0, 255).astype(np.uint8))
    return images


def normal_init(std: float = 0.02) -> Init:
    """Norm weights 1 + std·N(0,1), everything else std·N(0,1)."""

    def init(key: str, t: Tensor, g: torch.Generator) -> Tensor:
        noise = torch.randn(t.shape, generator=g, dtype=torch.float32) * std
        is_norm = (
            t.ndim == 1
            and ("norm" in key or key.endswith(".gamma"))
            and key.endswith(("weight", "gamma"))
        )
        return 1 + noise if is_norm else noise

    return init


def seeded_state_dict(template: Mapping[str, Tensor], seed: int, init: Init) -> dict[str, Tensor]:
    """A state dict of the template's keys and shapes with deterministic seeded values
    (floating tensors only; integer buffers are copied)."""
    out: dict[str, Tensor] = {}
    for key in sorted(template):
        t = template[key]
        if not t.is_floating_point():
            out[key] = t.clone()
            continue
        g = torch.Generator().manual_seed(seed * 1_000_003 + zlib.crc32(key.encode()))
        out[key] = init(key, t, g).to(torch.float32).contiguous()
    return out
