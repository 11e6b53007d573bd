"""Property tests of the Fréchet distance (``p2pbench.metrics.frechet``) against references here.

Covariances are built from factors, Σ = FᵀF with F r×d (r = 1..d+4, so r < d gives a
rank-deficient Σ, as from fewer samples than dimensions), either random correlated floats or
small integers (exact duplicates, zero columns, zero covariances). Two references:

- the TTUR / pytorch-fid formula, ``‖μ₁−μ₂‖² + tr Σ₁ + tr Σ₂ − 2 tr scipy.linalg.sqrtm(Σ₁Σ₂)``;
- the exact identity ``tr (Σ₁Σ₂)^½ = ‖F₁ F₂ᵀ‖_*`` (nuclear norm, by SVD).

Tolerances are relative to the scale ``‖μ₁−μ₂‖² + tr Σ₁ + tr Σ₂`` (d is a difference of terms
of that size, so no method does better than rounding of the scale):

- ``EXACT_REL`` = 1e-10 against the nuclear norm when Σ₁Σ₂ has the rank of the lower-rank
  factor, with a clear gap (the pivoted-Cholesky route is then exact to rounding; 4e-12 is the
  worst seen in 4000 random draws);
- ``ROUGH_REL`` = 1e-6 otherwise, and against sqrtm always: when Σ₁Σ₂ has an extra null space,
  or sqrtm meets a singular product, rounding-size eigenvalues enter under a square root and
  both routes are only good to ~√ε (3e-9 and 2e-8 the worst seen). sqrtm results that do not
  square back to Σ₁Σ₂ (scipy fails on some singular products) are not used as a reference.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
import scipy.linalg
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from p2pbench.metrics.frechet import GaussianStats, frechet_distance, stats_from_sums

EXACT_REL = 1e-10
ROUGH_REL = 1e-6


@st.composite
def factors(draw: Any, d: int) -> np.ndarray:
    """An r×d factor F (Σ = FᵀF): correlated, unevenly scaled floats or small integers."""
    r = draw(st.integers(1, d + 4))
    if draw(st.booleans()):
        seed = draw(st.integers(0, 2**32 - 1))
        rng = np.random.default_rng(seed)
        scales = np.exp(rng.normal(size=d) * draw(st.sampled_from((0.0, 1.0, 3.0))))
        mix = rng.normal(size=(d, d)) if draw(st.booleans()) else np.eye(d)
        return rng.normal(size=(r, d)) @ mix * scales
    ints = draw(hnp.arrays(np.int64, (r, d), elements=st.integers(-3, 3)))
    return ints.astype(np.float64) * draw(st.sampled_from((1e-3, 1.0, 1e3)))


@st.composite
def stat_pairs(draw: Any) -> tuple[np.ndarray, ...]:
    """(μ₁, F₁, μ₂, F₂) of one dimension d in 2..16."""
    d = draw(st.integers(2, 16))
    mus = hnp.arrays(np.float64, d, elements=st.floats(-100, 100, allow_subnormal=False))
    return draw(mus), draw(factors(d)), draw(mus), draw(factors(d))


def as_stats(mu: np.ndarray, f: np.ndarray) -> GaussianStats:
    return GaussianStats(torch.from_numpy(mu), torch.from_numpy(f.T @ f))


def scale(mu1: np.ndarray, s1: np.ndarray, mu2: np.ndarray, s2: np.ndarray) -> float:
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2))


def sqrtm_reference(
    mu1: np.ndarray, s1: np.ndarray, mu2: np.ndarray, s2: np.ndarray
) -> float | None:
    """The sqrtm formula, or None where scipy's sqrtm of Σ₁Σ₂ does not square back to it."""
    product = s1 @ s2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Matrix is singular": the reason for ROUGH_REL
        covmean = scipy.linalg.sqrtm(product)
    if not np.isfinite(covmean).all():
        return None
    residual = np.abs(covmean @ covmean - product).max()
    if residual > 1e-6 * max(np.abs(product).max(), np.finfo(float).tiny):
        return None
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean).real)


def nuclear_reference(mu1: np.ndarray, f1: np.ndarray, mu2: np.ndarray, f2: np.ndarray) -> float:
    diff = mu1 - mu2
    tr = np.linalg.svd(f1 @ f2.T, compute_uv=False).sum()
    return float(diff @ diff + np.sum(f1 * f1) + np.sum(f2 * f2) - 2 * tr)


def tolerance(f1: np.ndarray, f2: np.ndarray) -> float:
    """EXACT_REL where F₁F₂ᵀ has the lower factor rank with a clear gap, else ROUGH_REL."""
    r = min(np.linalg.matrix_rank(f1), np.linalg.matrix_rank(f2))
    sv = np.linalg.svd(f1 @ f2.T, compute_uv=False)
    if r == 0 or sv[0] == 0:
        return EXACT_REL
    kept_ok = sv[r - 1] > 1e-6 * sv[0]
    rest_ok = len(sv) == r or sv[r] <= 1e-12 * sv[0]
    return EXACT_REL if kept_ok and rest_ok else ROUGH_REL


@settings(max_examples=100)
@given(case=stat_pairs())
def test_equals_sqrtm_formula_and_nuclear_norm(case: tuple[np.ndarray, ...]) -> None:
    mu1, f1, mu2, f2 = case
    s1, s2 = f1.T @ f1, f2.T @ f2
    got = frechet_distance(as_stats(mu1, f1), as_stats(mu2, f2))
    sc = scale(mu1, s1, mu2, s2)
    assert abs(got - nuclear_reference(mu1, f1, mu2, f2)) <= tolerance(f1, f2) * sc
    ref = sqrtm_reference(mu1, s1, mu2, s2)
    if ref is not None:
        assert abs(got - ref) <= ROUGH_REL * sc


@given(case=stat_pairs())
def test_symmetric_and_non_negative(case: tuple[np.ndarray, ...]) -> None:
    mu1, f1, mu2, f2 = case
    a, b = as_stats(mu1, f1), as_stats(mu2, f2)
    ab, ba = frechet_distance(a, b), frechet_distance(b, a)
    tol = tolerance(f1, f2) * scale(mu1, f1.T @ f1, mu2, f2.T @ f2)
    assert abs(ab - ba) <= tol
    assert ab >= -tol and ba >= -tol


@given(case=stat_pairs())
def test_zero_for_identical_stats(case: tuple[np.ndarray, ...]) -> None:
    mu, f, _, _ = case
    s = f.T @ f
    got = frechet_distance(as_stats(mu, f), as_stats(mu.copy(), f.copy()))
    assert abs(got) <= EXACT_REL * 2 * np.trace(s)


@settings(max_examples=100)
@given(
    d=st.integers(1, 16),
    n=st.integers(2, 24),
    data=st.data(),
)
def test_stats_from_sums_equals_numpy(d: int, n: int, data: st.DataObject) -> None:
    x = data.draw(
        hnp.arrays(
            np.float64,
            (n, d),
            elements=st.floats(-1e3, 1e3, allow_subnormal=False) | st.integers(-5, 5).map(float),
        )
    )
    xt = torch.from_numpy(x)
    n_arg: int | torch.Tensor = data.draw(st.sampled_from((n, torch.tensor(n))))
    got = stats_from_sums(n_arg, xt.sum(dim=0), xt.T @ xt)
    want_mu = np.mean(x, axis=0)
    want_sigma = np.cov(x, rowvar=False, ddof=1).reshape(d, d)
    assert got.n == n and got.mu.dtype == got.sigma.dtype == torch.float64
    # Σxxᵀ − n μμᵀ cancels: the sums are exact to ~n·ε·max Σx², so is the difference
    big = float(np.max(np.sum(x * x, axis=0), initial=0.0))
    assert np.allclose(got.mu.numpy(), want_mu, rtol=1e-12, atol=1e-12 * np.abs(x).max(initial=0))
    assert np.allclose(got.sigma.numpy(), want_sigma, rtol=0, atol=8 * (n + 2) * 2.2e-16 * big)
    assert torch.equal(got.sigma, got.sigma.T)


@given(n=st.integers(-3, 1), d=st.integers(1, 4))
def test_stats_from_sums_needs_two_vectors(n: int, d: int) -> None:
    with pytest.raises(ValueError, match="at least 2"):
        stats_from_sums(n, torch.zeros(d, dtype=torch.float64), torch.zeros(d, d))
