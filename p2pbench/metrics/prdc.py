"""Precision and recall (Kynkäänniemi et al., 2019) and density and coverage (Naeem et al.,
2020) of generated features against real ones, from k-nearest-neighbour balls, in float64.

Each real sample's ball has the radius of its k-th nearest real neighbour (itself excluded);
each generated sample's ball likewise among the generated samples.

- precision: the fraction of generated samples inside at least one real ball;
- recall: the fraction of real samples inside at least one generated ball;
- density: (1/k) · the mean over generated samples of the number of real balls holding them;
- coverage: the fraction of real samples whose nearest generated sample lies inside its ball.

"Inside" is the tie rule, stated because the references differ: `strict` (distance < radius,
the `prdc` package of Naeem et al.) or `inclusive` (distance ≤ radius, torch-fidelity's
precision/recall). Distances are exact Euclidean distances in float64 (no dot-product
expansion), so a sample's distance to itself is exactly 0. The sets are passed by keyword
(`real=`, `fake=`): the metrics are not symmetric, and a swapped call is the classic mistake.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from p2pbench.distributed import warn
from p2pbench.errors import InvalidValueError

TIES: tuple[str, ...] = ("strict", "inclusive")
SMALL_SAMPLE = 1000  # below this many samples per set the k-NN radii are coarse: warned
PR_K = 3  # Kynkäänniemi et al.
DC_K = 5  # Naeem et al.


@dataclass(frozen=True)
class PRDC:
    precision: float
    recall: float
    density: float
    coverage: float
    k: int
    ties: str
    n_real: int
    n_fake: int


def _features(x: Tensor | np.ndarray, name: str) -> Tensor:
    t = torch.as_tensor(x).detach().cpu().to(torch.float64)
    if t.ndim != 2:
        raise ValueError(f"{name}: expected an N×D array of features, found {tuple(t.shape)}")
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name}: the features hold NaN or infinite values")
    return t


def knn_radii(features: Tensor, k: int) -> Tensor:
    """Distance of each sample to its k-th nearest other sample (float64, exact)."""
    distances = torch.cdist(features, features, compute_mode="donot_use_mm_for_euclid_dist")
    return distances.kthvalue(k + 1, dim=1).values  # the first is the sample itself (0)


def prdc(
    *,
    real: Tensor | np.ndarray,
    fake: Tensor | np.ndarray,
    k: int = DC_K,
    ties: str = "strict",
) -> PRDC:
    """Precision, recall, density and coverage of `fake` against `real` features."""
    if ties not in TIES:
        raise InvalidValueError(f"unknown tie rule {ties!r}; valid: {', '.join(TIES)}")
    x, y = _features(real, "real"), _features(fake, "fake")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"real features are {x.shape[1]}-d but fake ones {y.shape[1]}-d")
    if k < 1:
        raise InvalidValueError(f"k must be at least 1, found {k}")
    for name, n in (("real", x.shape[0]), ("fake", y.shape[0])):
        if n <= k:
            raise InvalidValueError(f"{name}: {n} samples cannot give a {k}-th nearest neighbour")
    if min(x.shape[0], y.shape[0]) < SMALL_SAMPLE:
        warn(
            f"precision/recall/density/coverage on {x.shape[0]} real and {y.shape[0]} generated "
            f"samples: with fewer than {SMALL_SAMPLE} per set the {k}-NN balls are coarse and the "
            "metrics biased (the papers used 10,000-50,000); compare them only at equal sizes",
            stacklevel=2,
        )
    inside = torch.lt if ties == "strict" else torch.le
    real_radii, fake_radii = knn_radii(x, k), knn_radii(y, k)
    between = torch.cdist(x, y, compute_mode="donot_use_mm_for_euclid_dist")  # real × fake
    in_real_balls = inside(between, real_radii[:, None])  # [i, j]: fake j in real ball i
    in_fake_balls = inside(between, fake_radii[None, :])  # [i, j]: real i in fake ball j
    nearest_fake = between.min(dim=1).values
    return PRDC(
        precision=float(in_real_balls.any(dim=0).double().mean()),
        recall=float(in_fake_balls.any(dim=1).double().mean()),
        density=float(in_real_balls.sum(dim=0).double().mean() / k),
        coverage=float(inside(nearest_fake, real_radii).double().mean()),
        k=k,
        ties=ties,
        n_real=int(x.shape[0]),
        n_fake=int(y.shape[0]),
    )
