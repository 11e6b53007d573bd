"""The Fréchet distance against scipy's sqrtm formula, exact identities and closed forms."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

from p2pbench.metrics.frechet import (
    GaussianStats,
    frechet_distance,
    frechet_distance_arrays,
    stats_from_features,
    stats_from_sums,
    trace_sqrt_product,
)


def features(n: int, d: int, seed: int, shift: float = 0.0) -> np.ndarray:
    """Correlated, unevenly scaled, off-centre features (like pool3: positive, low rank-ish)."""
    rng = np.random.default_rng(seed)
    scales = np.exp(rng.normal(size=d))
    low = rng.normal(size=(n, 8)) @ rng.normal(size=(8, d))
    return low * 0.3 + rng.normal(size=(n, d)) * scales + 3.0 + shift


def scipy_fid(x: np.ndarray, y: np.ndarray) -> float:
    """The TTUR / pytorch-fid formula: np.cov, then scipy.linalg.sqrtm of Σ₁Σ₂."""
    mu1, mu2 = x.mean(0), y.mean(0)
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean).real)


def nuclear_trace(x: np.ndarray, y: np.ndarray) -> float:
    """tr(Σ₁Σ₂)^½ exactly: the singular values of the centred cross product (independent route)."""
    a, b = x - x.mean(0), y - y.mean(0)
    return float(
        np.linalg.svd(a @ b.T, compute_uv=False).sum() / np.sqrt((len(x) - 1) * (len(y) - 1))
    )


def ours(x: np.ndarray, y: np.ndarray) -> float:
    return frechet_distance(
        stats_from_features(torch.from_numpy(x)), stats_from_features(torch.from_numpy(y))
    )


@pytest.mark.parametrize(
    "n1,n2,d",
    [(400, 300, 64), (40, 30, 64), (20, 200, 96)],
    ids=["full-rank", "rank-deficient", "one-rank-deficient"],
)
def test_equals_scipy_sqrtm_formula(n1: int, n2: int, d: int) -> None:
    x, y = features(n1, d, 1), features(n2, d, 2, shift=0.2)
    assert ours(x, y) == pytest.approx(scipy_fid(x, y), rel=1e-6)


@pytest.mark.parametrize("n1,n2,d", [(400, 300, 64), (40, 30, 64), (20, 200, 96)])
def test_trace_term_equals_exact_nuclear_norm(n1: int, n2: int, d: int) -> None:
    x, y = features(n1, d, 3), features(n2, d, 4)
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    assert trace_sqrt_product(s1, s2) == pytest.approx(nuclear_trace(x, y), rel=1e-12)
    assert trace_sqrt_product(s2, s1) == pytest.approx(nuclear_trace(x, y), rel=1e-12)


@pytest.mark.slow
@pytest.mark.parametrize("n", [500, 3000])
def test_2048_dims_equals_scipy_and_exact(n: int) -> None:
    x, y = features(n, 2048, 5), features(n, 2048, 6, shift=0.1)
    value = ours(x, y)
    assert value == pytest.approx(scipy_fid(x, y), rel=1e-6)
    diff = x.mean(0) - y.mean(0)
    exact = (
        diff @ diff
        + np.trace(np.cov(x, rowvar=False))
        + np.trace(np.cov(y, rowvar=False))
        - 2 * nuclear_trace(x, y)
    )
    assert value == pytest.approx(exact, rel=1e-10)


def test_identities() -> None:
    x, y = features(50, 32, 7), features(60, 32, 8)
    a, b = stats_from_features(torch.from_numpy(x)), stats_from_features(torch.from_numpy(y))
    assert abs(frechet_distance(a, a)) < 1e-9 * float(a.sigma.trace())
    assert frechet_distance(a, b) == pytest.approx(frechet_distance(b, a), rel=1e-12)
    c = np.linspace(-1, 2, 32)
    shifted = stats_from_features(torch.from_numpy(x + c))  # same covariance, mean + c
    assert frechet_distance(a, shifted) == pytest.approx(float(c @ c), rel=1e-9)


def test_closed_form_for_commuting_covariances() -> None:
    rng = np.random.default_rng(9)
    q, _ = np.linalg.qr(rng.normal(size=(16, 16)))
    l1, l2 = rng.uniform(0.1, 3, 16), rng.uniform(0, 2, 16)
    l2[:5] = 0  # a singular covariance
    s1, s2 = q @ np.diag(l1) @ q.T, q @ np.diag(l2) @ q.T
    mu1, mu2 = rng.normal(size=16), rng.normal(size=16)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(l1) - np.sqrt(l2)) ** 2)
    assert frechet_distance_arrays(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-10)
    assert frechet_distance_arrays(mu2, s2, mu1, s1) == pytest.approx(expected, rel=1e-10)
    zero = np.zeros((16, 16))
    assert frechet_distance_arrays(mu1, zero, mu1, zero) == 0.0


def test_sums_give_np_cov() -> None:
    x = torch.from_numpy(features(30, 24, 10))
    s = stats_from_sums(30, x.sum(0), x.T @ x)
    np.testing.assert_allclose(
        s.sigma.numpy(), np.cov(x.numpy(), rowvar=False), rtol=1e-10, atol=1e-12
    )
    np.testing.assert_allclose(s.mu.numpy(), x.numpy().mean(0), rtol=1e-14)
    assert s.n == 30 and s.sigma.dtype == torch.float64
    with pytest.raises(ValueError, match="at least 2"):
        stats_from_sums(1, x[0], torch.outer(x[0], x[0]))


def test_invalid_inputs_are_rejected() -> None:
    eye = np.eye(4)
    with pytest.raises(ValueError, match="one d"):
        frechet_distance_arrays(np.zeros(4), eye, np.zeros(3), np.eye(3))
    not_psd = np.diag([1.0, 1.0, -1.0, 1.0])
    with pytest.raises(ValueError, match="sigma1 is not a positive semidefinite"):
        trace_sqrt_product(not_psd, eye)
    with pytest.raises(ValueError, match="sigma2 is not a positive semidefinite"):
        trace_sqrt_product(eye, not_psd)
    with pytest.raises(ValueError, match="mu of shape"):
        GaussianStats(torch.zeros(3), torch.zeros(4, 4))
    with pytest.raises(ValueError, match="NaN"):
        frechet_distance_arrays(np.full(4, np.nan), eye, np.zeros(4), eye)


def test_below_full_rank_warns_and_full_rank_does_not() -> None:
    import warnings

    from p2pbench.errors import P2PBenchWarning
    from p2pbench.metrics.frechet import below_full_rank, frechet_distance, stats_from_features

    g = torch.Generator().manual_seed(0)
    d = 8
    few = [
        stats_from_features(torch.randn(n, d, generator=g, dtype=torch.float64)) for n in (8, 30)
    ]
    many = [stats_from_features(torch.randn(30, d, generator=g, dtype=torch.float64)) for _ in "ab"]
    assert below_full_rank(*few) and not below_full_rank(*many)
    with pytest.warns(P2PBenchWarning, match=r"FID from 8 and 30 samples of 8-d features"):
        frechet_distance(*few, name="FID")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        frechet_distance(*many)  # full rank: no warning
    unknown = type(few[0])(few[0].mu, few[0].sigma)  # statistics without a count (.npz)
    assert not below_full_rank(unknown, unknown)
