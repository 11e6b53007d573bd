"""Kernel Inception Distance with torch-fidelity's subsets, kernel and estimator, in float64.

For each of `subsets` rounds, ``rng = numpy.random.RandomState(seed)`` draws `subset_size`
generated then `subset_size` real feature vectors without replacement (torch-fidelity's calls,
in its order: generated = its input1); the unbiased MMD² of the two draws under the polynomial
kernel k(x, y) = (γ x·y + c₀)^degree, γ = 1/d by default, is recorded; the result is the mean and
population std (ddof=0) over rounds. torch-fidelity computes the kernels in float32; here they
are float64. With fewer images than `subset_size`, the size is reduced (with a warning) to the
smaller set, where torch-fidelity stops with an error.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from torch import Tensor

from p2pbench.distributed import warn
from p2pbench.errors import InvalidValueError
from p2pbench.metrics.ordered import OrderedFeaturesMetric

DEFAULT_SUBSETS = 100
DEFAULT_SUBSET_SIZE = 1000
DEFAULT_SEED = 2020
GRAM_LIMIT = 1 << 24  # precompute the full kernel matrices up to this many entries each


def _kernel(x: np.ndarray, y: np.ndarray, degree: int, gamma: float, coef0: float) -> np.ndarray:
    return (x @ y.T * gamma + coef0) ** degree


def kernel_inception_distance(
    fake: Tensor,
    real: Tensor,
    subsets: int = DEFAULT_SUBSETS,
    subset_size: int = DEFAULT_SUBSET_SIZE,
    seed: int = DEFAULT_SEED,
    degree: int = 3,
    gamma: float | None = None,
    coef0: float = 1.0,
) -> tuple[float, float]:
    """(mean, std) of the unbiased MMD² over seeded subsets of N×d features in sample order."""
    f = fake.detach().cpu().double().numpy()
    r = real.detach().cpu().double().numpy()
    nf, nr, m = f.shape[0], r.shape[0], subset_size
    if f.ndim != 2 or r.ndim != 2 or f.shape[1] != r.shape[1]:
        raise ValueError(f"expected N×d features of one d, found {f.shape} and {r.shape}")
    if not 2 <= m <= min(nf, nr):
        raise ValueError(
            f"subset size must be in [2, min(N_fake, N_real)] = [2, {min(nf, nr)}], found {m}"
        )
    g = 1.0 / f.shape[1] if gamma is None else gamma
    gram = max(nf, nr) ** 2 <= GRAM_LIMIT
    if gram:
        k_ff, k_rr, k_fr = (_kernel(a, b, degree, g, coef0) for a, b in ((f, f), (r, r), (f, r)))
    rng = np.random.RandomState(seed)
    mmds = np.zeros(subsets)
    for i in range(subsets):
        a = rng.choice(nf, m, replace=False)
        b = rng.choice(nr, m, replace=False)
        if gram:
            kxx, kyy, kxy = k_ff[np.ix_(a, a)], k_rr[np.ix_(b, b)], k_fr[np.ix_(a, b)]
        else:
            x, y = f[a], r[b]
            kxx, kyy = _kernel(x, x, degree, g, coef0), _kernel(y, y, degree, g, coef0)
            kxy = _kernel(x, y, degree, g, coef0)
        off = kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)
        mmds[i] = off / (m * (m - 1)) - 2 * kxy.sum() / (m * m)
    return float(np.mean(mmds)), float(np.std(mmds))


class KID(OrderedFeaturesMetric):
    """KID between generated and real pool3 features, both kept and gathered in sample order.

    ``update(features, indices, real=False)``; or give the real features once as `reference`
    (N×d, in sample order, e.g. from a cached statistics file). ``compute()`` returns
    ``kid_mean``, ``kid_std`` and the ``kid_subsets``, ``kid_subset_size``, ``kid_seed`` used.
    """

    is_differentiable = False
    higher_is_better = False

    def __init__(
        self,
        reference: Tensor | None = None,
        subsets: int = DEFAULT_SUBSETS,
        subset_size: int = DEFAULT_SUBSET_SIZE,
        seed: int = DEFAULT_SEED,
        num_features: int = 2048,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if subsets < 1 or subset_size < 2:
            raise InvalidValueError(
                f"expected subsets >= 1 and subset_size >= 2, found {subsets} and {subset_size}"
            )
        if reference is not None and (reference.ndim != 2 or reference.shape[1] != num_features):
            raise InvalidValueError(
                f"expected N×{num_features} reference features, found shape "
                f"{tuple(reference.shape)}"
            )
        self.reference = None if reference is None else reference.detach().cpu().double()
        self.subsets, self.subset_size, self.seed = subsets, subset_size, seed
        self._add_records_state("fake", num_features)
        self._add_records_state("real", num_features)

    def update(self, features: Tensor, indices: Tensor | Sequence[int], real: bool = False) -> None:
        if real and self.reference is not None:
            raise ValueError(
                "this KID was given reference features; it cannot also accumulate real ones"
            )
        self._append("real" if real else "fake", features, indices)

    def features(self, real: bool = False) -> Tensor:
        """The kept features of all processes in sample order (the reference if given)."""
        if real and self.reference is not None:
            return self.reference
        with self.sync_context(should_unsync=True):
            return self._ordered("real" if real else "fake")

    def compute(self) -> dict[str, Any]:
        fake = self._ordered("fake")
        real = self.reference if self.reference is not None else self._ordered("real")
        size = min(self.subset_size, fake.shape[0], real.shape[0])
        if size < 2:
            raise InvalidValueError(
                f"KID needs at least 2 generated and 2 real images, found "
                f"{fake.shape[0]} and {real.shape[0]}"
            )
        if size < self.subset_size:
            warn(
                f"KID: subset size {self.subset_size} exceeds the {fake.shape[0]} "
                f"generated / {real.shape[0]} real images; using {size}",
                stacklevel=2,
            )
        mean, std = kernel_inception_distance(fake, real, self.subsets, size, self.seed)
        return {
            "kid_mean": mean,
            "kid_std": std,
            "kid_subsets": self.subsets,
            "kid_subset_size": size,
            "kid_seed": self.seed,
        }
