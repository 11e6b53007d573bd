"""CMMD (Jayasumana et al., CVPR 2024): the squared maximum mean discrepancy between CLIP image
embeddings of the real and the generated images, in float64.

    CMMD = 1000 · (mean k(x, x') + mean k(y, y') − 2 · mean k(x, y)),
    k(a, b) = exp(−‖a − b‖² / 2σ²)

with σ = 10, x over the real and y over the generated embeddings, every mean over all pairs
including i = j (the biased, minimum-variance estimator of the reference code), and squared
distances expanded as ‖a‖² + ‖b‖² − 2a·b as the reference computes them. The embeddings are
CLIP ViT-L/14-336 image embeddings, L2-normalised by the encoder. Every sample counts: the
original drops the last partial batch of its data pipeline (an artefact of batching, recorded
where it matters), the PyTorch port does not, neither do we. The two sets may differ in size.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from p2pbench.errors import InvalidValueError

CMMD_SIGMA = 10.0
CMMD_SCALE = 1000.0


def _as_float64(x: Tensor | np.ndarray, name: str) -> Tensor:
    t = torch.as_tensor(x).detach().cpu().to(torch.float64)
    if t.ndim != 2 or t.shape[0] < 1:
        raise ValueError(
            f"{name}: expected an N×D array of embeddings (N ≥ 1), found {tuple(t.shape)}"
        )
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name}: the embeddings hold NaN or infinite values")
    return t


def _mean_kernel(a: Tensor, b: Tensor, gamma: float) -> Tensor:
    a_sq = (a * a).sum(1, keepdim=True)
    b_sq = (b * b).sum(1, keepdim=True)
    squared = a_sq + b_sq.T - 2.0 * (a @ b.T)
    return torch.exp(-gamma * squared).mean()


def cmmd(
    *,
    real: Tensor | np.ndarray,
    fake: Tensor | np.ndarray,
    sigma: float = CMMD_SIGMA,
    scale: float = CMMD_SCALE,
) -> float:
    """CMMD of generated embeddings `fake` against real embeddings `real` (keywords only: the
    estimator is symmetric, but the record of which set is which is not)."""
    x, y = _as_float64(real, "real"), _as_float64(fake, "fake")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"real embeddings are {x.shape[1]}-d but fake ones {y.shape[1]}-d")
    if not sigma > 0:
        raise InvalidValueError(f"sigma must be > 0, found {sigma}")
    gamma = 1.0 / (2.0 * sigma**2)
    value = _mean_kernel(x, x, gamma) + _mean_kernel(y, y, gamma) - 2.0 * _mean_kernel(x, y, gamma)
    return float(scale * value)
