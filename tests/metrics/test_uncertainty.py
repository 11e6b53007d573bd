"""Seed t-intervals and the paired image bootstrap against hand values, closed forms and a
naive per-draw loop over `fcn_scores`."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest
import torch

from p2pbench.metrics.fcn_score import fcn_scores
from p2pbench.metrics.uncertainty import (
    SCORE_METRICS,
    bootstrap_differences,
    fcn_scores_batch,
    paired_bootstrap,
    pool_seeds,
    seed_summary,
)

# Student-t quantiles from printed tables (independent of scipy)
T_0975_DF3 = 3.182446305284263
T_095_DF3 = 2.353363434801823


# --------------------------------------------------------------------------- seed_summary


def test_t_interval_matches_a_hand_computation() -> None:
    s = seed_summary([1, 2, 3, 4])
    sd = math.sqrt(((1.5**2) * 2 + (0.5**2) * 2) / 3)  # 1.2909944...
    assert s.values == (1.0, 2.0, 3.0, 4.0) and s.n == 4
    assert s.mean == pytest.approx(2.5, abs=1e-12)
    assert s.std == pytest.approx(1.2909944487, abs=1e-6)
    assert s.std == pytest.approx(sd, abs=1e-12)
    half = T_0975_DF3 * sd / 2
    assert half == pytest.approx(2.0543, abs=1e-4)
    assert s.low == pytest.approx(2.5 - half, abs=1e-6)
    assert s.high == pytest.approx(2.5 + half, abs=1e-6)
    s90 = seed_summary([1, 2, 3, 4], level=0.90)
    assert s90.high == pytest.approx(2.5 + T_095_DF3 * sd / 2, abs=1e-6)


def test_single_seed_has_no_spread_and_identical_seeds_a_point_interval() -> None:
    s = seed_summary([0.61])
    assert (s.mean, s.n, s.std, s.low, s.high) == (0.61, 1, None, None, None)
    same = seed_summary([0.5, 0.5, 0.5])
    assert (same.std, same.low, same.high) == (0.0, 0.5, 0.5)


@pytest.mark.parametrize(
    "values, level",
    [([], 0.95), ([1.0, math.nan], 0.95), ([math.inf], 0.95), (["0.5"], 0.95), ([1, 2], 1.5)],
)
def test_seed_summary_refuses_bad_input(values: list, level: float) -> None:
    with pytest.raises(ValueError, match=r"finite|at least one|level"):
        seed_summary(values, level=level)


# --------------------------------------------------------------------------- score formulas


@pytest.mark.parametrize("extra_column", [False, True])
def test_numpy_scores_equal_fcn_scores(extra_column: bool) -> None:
    rng = np.random.default_rng(7)
    n = 19
    hists = rng.integers(0, 500, size=(12, n, n + extra_column))
    hists[0, 3, :] = 0  # a class absent from the ground truth
    hists[1] = 0  # an empty histogram (a dropped frame)
    hists[2, :, 5] = 0  # a class never predicted
    got = fcn_scores_batch(hists)
    for i, h in enumerate(hists):
        want = fcn_scores(torch.from_numpy(h))
        for m in SCORE_METRICS:
            assert got[m][i] == pytest.approx(want[m], rel=1e-12, abs=1e-12), (i, m)


# --------------------------------------------------------------------------- bootstrap


def _accuracy_hists(correct: np.ndarray, m: int) -> np.ndarray:
    """2×2 histograms with `m` scored pixels each, `correct[i]` of them right (class 0)."""
    h = np.zeros((len(correct), 2, 2), dtype=np.int64)
    h[:, 0, 0] = correct
    h[:, 0, 1] = m - correct
    return h


def test_bootstrap_matches_the_closed_form_for_equal_sized_images() -> None:
    # every image has m scored pixels, so a resample's pixel accuracy is the mean of its
    # images' accuracies and the bootstrap std is sqrt(var_pop(d) / N), d_i = acc_b - acc_a
    rng = np.random.default_rng(1)
    n_images, m = 80, 400
    ka = rng.integers(100, 300, size=n_images)
    kb = np.clip(ka + rng.integers(-40, 60, size=n_images), 0, m)
    a, b = _accuracy_hists(ka, m), _accuracy_hists(kb, m)
    d = (kb - ka) / m
    res = paired_bootstrap(a, b, metric="per_pixel_acc", draws=5000, seed=0)
    assert res.observed == pytest.approx(d.mean(), abs=1e-12)  # exact up to fcn's 1e-12 guard
    closed = math.sqrt(np.var(d) / n_images)
    draws = bootstrap_differences(a, b, metric="per_pixel_acc", draws=5000, seed=0)
    assert draws.std(ddof=1) == pytest.approx(closed, rel=0.06)
    assert res.std == draws.std(ddof=1)
    assert abs(draws.mean() - d.mean()) < 5 * closed / math.sqrt(5000)
    assert (res.draws, res.seed, res.n_images, res.level) == (5000, 0, n_images, 0.95)
    assert res.low == pytest.approx(np.quantile(draws, 0.025), abs=1e-15)
    assert res.high == pytest.approx(np.quantile(draws, 0.975), abs=1e-15)
    assert res.low < res.observed < res.high


def test_bootstrap_resamples_images_and_sums_their_histograms() -> None:
    # a naive reference: per draw, N indices from the same generator, fcn_scores of the sums
    rng = np.random.default_rng(2)
    a = rng.integers(0, 50, size=(9, 5, 6))
    b = rng.integers(0, 50, size=(9, 5, 6))
    for metric in SCORE_METRICS:
        got = bootstrap_differences(a, b, metric=metric, draws=40, seed=11)
        gen, want = np.random.default_rng(11), []
        for _ in range(40):
            idx = gen.integers(0, 9, size=9)
            sa = fcn_scores(torch.from_numpy(a[idx].sum(axis=0)))[metric]
            sb = fcn_scores(torch.from_numpy(b[idx].sum(axis=0)))[metric]
            want.append(sb - sa)
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


def test_identical_variants_give_zero_and_a_large_shift_is_significant() -> None:
    rng = np.random.default_rng(3)
    a = rng.integers(0, 100, size=(30, 4, 4))
    for metric in SCORE_METRICS:
        same = paired_bootstrap(a, a.copy(), metric=metric, draws=300, seed=5)
        assert (same.observed, same.low, same.high, same.significant) == (0.0, 0.0, 0.0, False)
    worse = _accuracy_hists(rng.integers(80, 120, size=30), 400)
    better = _accuracy_hists(rng.integers(300, 340, size=30), 400)
    up = paired_bootstrap(worse, better, metric="per_pixel_acc", draws=300)
    assert up.significant and up.low > 0.4
    down = paired_bootstrap(better, worse, metric="per_pixel_acc", draws=300)
    assert down.significant and down.high < -0.4


def test_seed_fixes_the_draws() -> None:
    rng = np.random.default_rng(4)
    a, b = rng.integers(0, 90, size=(2, 25, 3, 3))
    one = paired_bootstrap(a, b, metric="class_iou", draws=200, seed=9)
    assert one == paired_bootstrap(a, b, metric="class_iou", draws=200, seed=9)
    d9 = bootstrap_differences(a, b, metric="class_iou", draws=200, seed=9)
    d10 = bootstrap_differences(a, b, metric="class_iou", draws=200, seed=10)
    assert not np.array_equal(d9, d10)
    np.testing.assert_array_equal(
        d9, bootstrap_differences(a, b, metric="class_iou", draws=200, seed=9)
    )


@pytest.mark.parametrize(
    "a_shape, b_shape, kwargs, match",
    [
        ((5, 3, 3), (4, 3, 3), {}, "same images"),
        ((5, 3, 3), (5, 3, 3), {"metric": "fid"}, "unknown bootstrap metric"),
        ((5, 3, 3), (5, 3, 3), {"draws": 0}, "draws"),
        ((5, 3, 3), (5, 3, 3), {"level": 1.0}, "level"),
        ((5, 9), (5, 9), {}, "N×n×n"),
        ((5, 3, 5), (5, 3, 5), {}, "N×n×n"),
        ((0, 3, 3), (0, 3, 3), {}, "no images"),
        ((3, 2, 2), (3, 2, 2), {"ids_a": ["x", "y", "z"], "ids_b": ["x", "z", "y"]}, "order"),
    ],
)
def test_bootstrap_refuses_bad_input(a_shape, b_shape, kwargs, match) -> None:
    kwargs = {"metric": "per_pixel_acc", **kwargs}
    with pytest.raises(ValueError, match=match):
        paired_bootstrap(np.ones(a_shape, dtype=int), np.ones(b_shape, dtype=int), **kwargs)


def test_bootstrap_refuses_negative_or_fractional_counts() -> None:
    good = np.ones((3, 2, 2), dtype=int)
    for bad in (-good, good * 0.5):
        with pytest.raises(ValueError, match="non-negative integer"):
            paired_bootstrap(good, bad, metric="per_pixel_acc")


# --------------------------------------------------------------------------- pool_seeds


def _entries(ids: list[str], hists: np.ndarray) -> list[dict]:
    return [
        {"sample_id": i, "per_pixel_acc": 0.5, "confusion": h.tolist()}
        for i, h in zip(ids, hists, strict=True)
    ]


def test_pool_seeds_sums_each_image_over_seeds() -> None:
    rng = np.random.default_rng(6)
    h0, h1, h2 = rng.integers(0, 30, size=(3, 4, 3, 4))
    ids = ["a", "b", "c", "d"]
    order = [2, 0, 3, 1]  # a later seed may list the images in another order
    got_ids, pooled = pool_seeds(
        [
            _entries(ids, h0),
            _entries([ids[k] for k in order], h1[order]),
            _entries(ids, h2),
        ]
    )
    assert got_ids == tuple(ids)
    assert pooled.dtype == np.int64
    np.testing.assert_array_equal(pooled, h0 + h1 + h2)
    one_ids, one = pool_seeds([_entries(ids, h0)])
    np.testing.assert_array_equal(one, h0)


def test_pool_seeds_names_missing_images_and_refuses_bad_entries() -> None:
    h = np.ones((3, 2, 2), dtype=int)
    with pytest.raises(ValueError, match=r"seed #1.*lacks 1 image.*'?c'?"):
        pool_seeds([_entries(["a", "b", "c"], h), _entries(["a", "b"], h[:2])])
    with pytest.raises(ValueError, match="has 1 image.*zz"):
        pool_seeds([_entries(["a", "b", "c"], h), _entries(["a", "b", "zz"], h)])
    no_confusion = [{"sample_id": "a", "per_pixel_acc": 0.1}]
    with pytest.raises(ValueError, match="confusion"):
        pool_seeds([no_confusion])
    with pytest.raises(ValueError, match="twice"):
        pool_seeds([_entries(["a", "a"], h[:2])])
    with pytest.raises(ValueError, match="shape"):
        pool_seeds([_entries(["a"], h[:1]), _entries(["a"], np.ones((1, 3, 3), dtype=int))])
    with pytest.raises(ValueError, match="at least one seed"):
        pool_seeds([])


def test_stats_module_agrees_on_sample_std() -> None:
    values = [0.61, 0.64, 0.59, 0.66, 0.62]
    assert seed_summary(values).std == pytest.approx(statistics.stdev(values), abs=1e-15)
