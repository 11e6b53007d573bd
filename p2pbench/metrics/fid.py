"""Fréchet Inception Distance as a torchmetrics `Metric` with float64 sum states.

``update(features, real=False)`` adds pool3 features (N×2048) to the generated images' sums
(n, Σx, Σxxᵀ), or with ``real=True`` to the reference's. The reference is either accumulated
that way in the same pass, or given once as `GaussianStats` (a cached statistics file, or a
pytorch-fid ``.npz``). Every state is a sum (``dist_reduce_fx="sum"``), so batch size, sharding
and the number of processes change nothing but the order of float64 additions.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torchmetrics import Metric

from p2pbench.errors import InvalidValueError
from p2pbench.metrics.frechet import (
    GaussianStats,
    below_full_rank,
    frechet_distance,
    stats_from_sums,
)

NUM_FEATURES = 2048


class FID(Metric):
    """FID between generated features and a reference (real features or given statistics)."""

    is_differentiable = False
    higher_is_better = False
    full_state_update = False

    fake_n: Tensor
    fake_sum: Tensor
    fake_outer: Tensor
    real_n: Tensor
    real_sum: Tensor
    real_outer: Tensor

    def __init__(
        self,
        reference: GaussianStats | None = None,
        num_features: int = NUM_FEATURES,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if reference is not None and reference.mu.shape[0] != num_features:
            raise InvalidValueError(
                f"reference statistics have {reference.mu.shape[0]} dimensions, expected "
                f"{num_features} (pool3 features of the FID InceptionV3)"
            )
        self.reference = reference
        self.num_features = num_features
        self.below_full_rank = False  # of the last `compute`: n ≤ d, see metrics.frechet
        d = num_features
        for kind in ("fake", "real"):
            self.add_state(f"{kind}_n", torch.zeros((), dtype=torch.int64), dist_reduce_fx="sum")
            self.add_state(f"{kind}_sum", torch.zeros(d, dtype=torch.float64), dist_reduce_fx="sum")
            self.add_state(
                f"{kind}_outer", torch.zeros(d, d, dtype=torch.float64), dist_reduce_fx="sum"
            )

    def update(self, features: Tensor, real: bool = False) -> None:
        """Add N×d features of generated (default) or real images to their sums."""
        if features.ndim != 2 or features.shape[1] != self.num_features:
            raise ValueError(
                f"expected N×{self.num_features} pool3 features, found shape "
                f"{tuple(features.shape)}; pass InceptionFeatures.pool3"
            )
        if real and self.reference is not None:
            raise ValueError(
                "this FID was given reference statistics; it cannot also accumulate real "
                "features (use a FID without `reference` to compute them in the same pass)"
            )
        kind = "real" if real else "fake"
        x = features.detach().to(device=self.fake_sum.device, dtype=torch.float64)
        setattr(self, f"{kind}_n", getattr(self, f"{kind}_n") + x.shape[0])
        setattr(self, f"{kind}_sum", getattr(self, f"{kind}_sum") + x.sum(dim=0))
        setattr(self, f"{kind}_outer", getattr(self, f"{kind}_outer") + x.T @ x)

    def sums(self, real: bool = False) -> tuple[int, Tensor, Tensor]:
        """(n, Σx, Σxxᵀ) of the generated or real features, over all processes."""
        kind = "real" if real else "fake"
        with self.sync_context(should_unsync=True):
            return (
                int(getattr(self, f"{kind}_n")),
                getattr(self, f"{kind}_sum").clone(),
                getattr(self, f"{kind}_outer").clone(),
            )

    def _stats(self, kind: str) -> GaussianStats:
        n = int(getattr(self, f"{kind}_n"))
        if n < 2:
            what = "generated" if kind == "fake" else "real"
            hint = "" if kind == "fake" else " or give reference statistics"
            raise InvalidValueError(
                f"FID needs at least 2 {what} images, found {n}; add more{hint}"
            )
        return stats_from_sums(n, getattr(self, f"{kind}_sum"), getattr(self, f"{kind}_outer"))

    def compute(self) -> float:
        """FID (float) of the generated images against the reference."""
        reference = self.reference if self.reference is not None else self._stats("real")
        fake = self._stats("fake")
        self.below_full_rank = below_full_rank(fake, reference)
        return frechet_distance(fake, reference, name="FID")
