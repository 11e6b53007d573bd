"""CMMD (Jayasumana et al., CVPR 2024): the squared maximum mean discrepancy between CLIP image
embeddings of the real and the generated images, in float64 by default.

    CMMD = 1000 · (mean k(x, x') + mean k(y, y') − 2 · mean k(x, y)),
    k(a, b) = exp(−‖a − b‖² / 2σ²)

with σ = 10, x over the real and y over the generated embeddings, every mean over all pairs
including i = j (the biased, minimum-variance estimator of the reference code), and squared
distances expanded as ‖a‖² + ‖b‖² − 2a·b as the reference computes them. The embeddings are
CLIP ViT-L/14-336 image embeddings, L2-normalised by the encoder. Every sample counts: the
original drops the last partial batch of its data pipeline (an artefact of batching, recorded
where it matters), the PyTorch port does not, neither do we. The two sets may differ in size.

Precision: ``float64`` (the default) gives the estimator's value to about 1e-13; ``float32``
repeats the reference's arithmetic (both the original and the PyTorch port compute in float32,
with the squared norms taken from the Gram matrix's diagonal). The two differ by about 1e-4
absolute on CMMD values near 2 (6.7e-5 relative on the port's golden; −1.5 % at 24 images), so
use ``float32`` only to match a paper's published digits.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from p2pbench.errors import InvalidValueError

CMMD_SIGMA = 10.0
CMMD_SCALE = 1000.0
CMMD_PRECISIONS: tuple[str, ...] = ("float64", "float32")
"""`cmmd`'s precisions: float64 (exact to rounding) and float32 (the reference's arithmetic)."""


def _as_matrix(x: Tensor | np.ndarray, name: str, dtype: torch.dtype) -> Tensor:
    t = torch.as_tensor(x).detach().cpu().to(torch.float64)
    if t.ndim != 2 or t.shape[0] < 1:
        raise ValueError(
            f"{name}: expected an N×D array of embeddings (N ≥ 1), found {tuple(t.shape)}"
        )
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name}: the embeddings hold NaN or infinite values")
    return t.to(dtype)


def _mean_kernel(a: Tensor, b: Tensor, gamma: float) -> Tensor:
    a_sq = (a * a).sum(1, keepdim=True)
    b_sq = (b * b).sum(1, keepdim=True)
    squared = a_sq + b_sq.T - 2.0 * (a @ b.T)
    return torch.exp(-gamma * squared).mean()


def _mean_kernel_as_reference(a: Tensor, b: Tensor, gamma: float) -> Tensor:
    """The reference's order of operations: norms from the Gram matrices' diagonals."""
    a_sq = torch.diag(a @ a.T)
    b_sq = torch.diag(b @ b.T)
    squared = -2 * (a @ b.T) + a_sq.unsqueeze(1) + b_sq.unsqueeze(0)
    return torch.mean(torch.exp(-gamma * squared))


def cmmd(
    *,
    real: Tensor | np.ndarray,
    fake: Tensor | np.ndarray,
    sigma: float = CMMD_SIGMA,
    scale: float = CMMD_SCALE,
    precision: str = "float64",
) -> float:
    """CMMD of generated embeddings `fake` against real embeddings `real` (keywords only: the
    estimator is symmetric, but the record of which set is which is not), in `precision`
    (`CMMD_PRECISIONS`)."""
    if precision not in CMMD_PRECISIONS:
        raise InvalidValueError(
            f"unknown CMMD precision {precision!r}; choose one of {', '.join(CMMD_PRECISIONS)}"
        )
    dtype = torch.float64 if precision == "float64" else torch.float32
    x, y = _as_matrix(real, "real", dtype), _as_matrix(fake, "fake", dtype)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"real embeddings are {x.shape[1]}-d but fake ones {y.shape[1]}-d")
    if not sigma > 0:
        raise InvalidValueError(f"sigma must be > 0, found {sigma}")
    gamma = 1.0 / (2.0 * sigma**2)
    kernel = _mean_kernel if precision == "float64" else _mean_kernel_as_reference
    value = kernel(x, x, gamma) + kernel(y, y, gamma) - 2 * kernel(x, y, gamma)
    return float(scale * value)
