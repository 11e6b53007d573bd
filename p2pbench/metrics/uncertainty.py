"""Uncertainty of a score: the spread over training seeds and a paired bootstrap over images.

Two sources of variation are kept apart:

- **seeds** (`seed_summary`): the runs of one variant trained with different seeds give one
  number each; we report their mean, sample std (ddof=1) and the Student-t interval
  mean ± t_{(1+level)/2, n-1} · s / √n;
- **images** (`paired_bootstrap`): two variants scored on the same images are compared by
  resampling the images with replacement. One resample is shared by both variants (paired),
  each variant's FCN-score is recomputed from the SUM of the resampled per-image confusion
  histograms (the dataset-wide arithmetic of `p2pbench.metrics.fcn_score`, not a mean of
  per-image scores) and the difference score(b) − score(a) is recorded. The percentile interval
  of those differences is reported; it is "significant" when it excludes 0.

A resample is a vector of counts (how often each image was drawn); the count-weighted sum of
the histograms equals the sum over the resample. Only the diagonal, row sums, column sums and
total of each histogram enter the scores, so those are what get weighted: a draw costs
O(N · n), not O(N · n²).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from p2pbench.errors import InvalidValueError

SCORE_METRICS: tuple[str, ...] = ("per_pixel_acc", "per_class_acc", "class_iou")
"""The FCN-score metrics a paired bootstrap can recompute from confusion histograms."""

_EPS = 1e-12  # as in fcn_scores: an absent class scores 0 and is averaged in
_CHUNK_ELEMENTS = 2_000_000  # draws × images resampled at a time (bounds the memory)


@dataclass(frozen=True)
class SeedSummary:
    """Mean, sample std and t-interval of one metric over a variant's seeds.

    `std`, `low` and `high` are None for a single seed (a spread needs two values).
    """

    values: tuple[float, ...]
    mean: float
    std: float | None
    n: int
    low: float | None
    high: float | None


@dataclass(frozen=True)
class BootstrapDiff:
    """score(b) − score(a) on all images, and its paired-bootstrap percentile interval.

    `level` is the interval's coverage and `std` the standard deviation of the bootstrap
    differences (ddof=1; None for a single draw).
    """

    metric: str
    observed: float
    low: float
    high: float
    draws: int
    seed: int
    n_images: int
    significant: bool
    level: float = 0.95
    std: float | None = None


def _check_level(level: float) -> float:
    if not isinstance(level, (int, float)) or isinstance(level, bool) or not 0 < level < 1:
        raise InvalidValueError(
            f"expected a confidence level in (0, 1), e.g. 0.95, found {level!r}"
        )
    return float(level)


def seed_summary(values: Iterable[float], level: float = 0.95) -> SeedSummary:
    """Mean ± sample std over seeds and the Student-t interval at `level`.

    Raises ValueError for no values or a value that is not a finite number.
    """
    level = _check_level(level)
    vals = list(values)
    if not vals:
        raise InvalidValueError("seed_summary needs at least one value (one per seed), found none")
    bad = [
        v
        for v in vals
        if not isinstance(v, (int, float, np.integer, np.floating))
        or isinstance(v, bool)
        or not math.isfinite(float(v))
    ]
    if bad:
        raise InvalidValueError(
            f"seed_summary needs finite numbers, one per seed; found {bad[:5]!r} among "
            f"{len(vals)} values"
        )
    x = np.asarray(vals, dtype=np.float64)
    n = len(x)
    mean = float(x.mean())
    if n == 1:
        return SeedSummary(tuple(x.tolist()), mean, None, 1, None, None)
    std = float(x.std(ddof=1))
    half = float(stats.t.ppf((1 + level) / 2, n - 1)) * std / math.sqrt(n)
    return SeedSummary(tuple(x.tolist()), mean, std, n, mean - half, mean + half)


def _check_metric(metric: str) -> None:
    if metric not in SCORE_METRICS:
        raise InvalidValueError(
            f"unknown bootstrap metric {metric!r}; choose one of {', '.join(SCORE_METRICS)}"
        )


def _as_hists(hists: Any, name: str) -> np.ndarray:
    """`hists` as an N×n×n or N×n×(n+1) float64 array of non-negative integer counts."""
    try:
        arr = np.asarray(hists)
    except ValueError as e:
        raise InvalidValueError(f"{name}: not a regular N×R×C array of counts ({e})") from None
    if arr.ndim != 3 or arr.shape[1] < 1 or arr.shape[2] not in (arr.shape[1], arr.shape[1] + 1):
        raise InvalidValueError(
            f"{name}: expected per-image confusion histograms of shape N×n×n or N×n×(n+1), "
            f"found shape {arr.shape}"
        )
    if arr.shape[0] == 0:
        raise InvalidValueError(f"{name}: no images (shape {arr.shape}); a bootstrap needs images")
    if arr.dtype.kind not in "iuf" or (arr.dtype.kind == "f" and not np.all(np.isfinite(arr))):
        raise InvalidValueError(f"{name}: expected finite pixel counts, found dtype {arr.dtype}")
    if np.any(arr < 0) or (arr.dtype.kind == "f" and np.any(arr != np.round(arr))):
        raise InvalidValueError(f"{name}: expected non-negative integer pixel counts")
    return arr.astype(np.float64)


def _components(h: np.ndarray) -> np.ndarray:
    """Per histogram (leading dims ...): [diag (n), row sums (n), col sums (n), total (1)]."""
    n = h.shape[-2]
    square = h[..., :, :n]
    diag = np.diagonal(square, axis1=-2, axis2=-1)
    rows = h.sum(axis=-1)
    cols = square.sum(axis=-2)
    total = rows.sum(axis=-1, keepdims=True)
    return np.concatenate([diag, rows, cols, total], axis=-1)


def _scores(comp: np.ndarray, n: int) -> dict[str, np.ndarray]:
    """The three FCN scores from (possibly summed) components, over the leading dims."""
    diag, rows, cols = comp[..., :n], comp[..., n : 2 * n], comp[..., 2 * n : 3 * n]
    total = comp[..., 3 * n]
    return {
        "per_pixel_acc": diag.sum(axis=-1) / (total + _EPS),
        "per_class_acc": (diag / (rows + _EPS)).mean(axis=-1),
        "class_iou": (diag / (rows + cols - diag + _EPS)).mean(axis=-1),
    }


def fcn_scores_batch(hists: Any) -> dict[str, np.ndarray]:
    """`fcn_scores`' three numbers for each histogram of an (...)×n×n or ×n×(n+1) array.

    Vectorised float64 numpy version of the arithmetic of `p2pbench.metrics.fcn_score`; equal
    to `fcn_scores` to ~1e-16 (only the order of the class mean's additions may differ).
    """
    h = np.asarray(hists, dtype=np.float64)
    if h.ndim < 2 or h.shape[-2] < 1 or h.shape[-1] not in (h.shape[-2], h.shape[-2] + 1):
        raise ValueError(f"expected ...×n×n or ...×n×(n+1) histograms, found shape {h.shape}")
    return _scores(_components(h), h.shape[-2])


def _check_pair(
    hists_a: Any,
    hists_b: Any,
    ids_a: Sequence[str] | None,
    ids_b: Sequence[str] | None,
) -> tuple[np.ndarray, np.ndarray]:
    a, b = _as_hists(hists_a, "hists_a"), _as_hists(hists_b, "hists_b")
    if a.shape != b.shape:
        raise InvalidValueError(
            f"paired bootstrap: both variants must be scored on the same images with the same "
            f"histogram shape; found hists_a {a.shape} and hists_b {b.shape}"
        )
    if (ids_a is None) != (ids_b is None):
        raise InvalidValueError(
            "paired bootstrap: give the sample ids of both variants or of neither"
        )
    if ids_a is not None and ids_b is not None:
        if len(ids_a) != a.shape[0] or len(ids_b) != b.shape[0]:
            raise InvalidValueError(
                f"paired bootstrap: {len(ids_a)} and {len(ids_b)} sample ids for "
                f"{a.shape[0]} histograms each"
            )
        differ = [(x, y) for x, y in zip(ids_a, ids_b, strict=True) if x != y]
        if differ:
            raise InvalidValueError(
                f"paired bootstrap: the variants' images are not in the same order (or not the "
                f"same images): {len(differ)} positions differ, e.g. {differ[:5]}"
            )
    return a, b


def _check_draws(draws: int, seed: int) -> None:
    if not isinstance(draws, (int, np.integer)) or isinstance(draws, bool) or draws < 1:
        raise InvalidValueError(f"draws must be a positive integer, found {draws!r}")
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise InvalidValueError(f"seed must be a non-negative integer, found {seed!r}")


def _draws(a: np.ndarray, b: np.ndarray, metric: str, draws: int, seed: int) -> np.ndarray:
    n_images, n = a.shape[0], a.shape[1]
    comp_a, comp_b = _components(a), _components(b)
    rng = np.random.default_rng(seed)
    out = np.empty(draws, dtype=np.float64)
    chunk = max(1, _CHUNK_ELEMENTS // n_images)
    for start in range(0, draws, chunk):
        k = min(chunk, draws - start)
        idx = rng.integers(0, n_images, size=(k, n_images))  # k resamples of N indices
        flat = (idx + n_images * np.arange(k)[:, None]).ravel()
        counts = np.bincount(flat, minlength=k * n_images).reshape(k, n_images)
        counts = counts.astype(np.float64)  # integer sums stay exact in float64 (< 2**53)
        out[start : start + k] = (
            _scores(counts @ comp_b, n)[metric] - _scores(counts @ comp_a, n)[metric]
        )
    return out


def bootstrap_differences(
    hists_a: Any,
    hists_b: Any,
    *,
    metric: str,
    draws: int = 1000,
    seed: int = 0,
) -> np.ndarray:
    """The `draws` bootstrap values of score(b) − score(a) that `paired_bootstrap` summarises."""
    _check_metric(metric)
    _check_draws(draws, seed)
    a, b = _check_pair(hists_a, hists_b, None, None)
    return _draws(a, b, metric, int(draws), int(seed))


def paired_bootstrap(
    hists_a: Any,
    hists_b: Any,
    *,
    metric: str,
    draws: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    ids_a: Sequence[str] | None = None,
    ids_b: Sequence[str] | None = None,
) -> BootstrapDiff:
    """Paired bootstrap over images of score(b) − score(a) for one FCN metric.

    `hists_a`, `hists_b`: N×R×C per-image confusion histograms (rows = ground truth) of
    variants a and b, in the same image order, each already summed over that variant's seeds
    (`pool_seeds`). Each of `draws` draws resamples N image indices with replacement from
    `numpy.random.default_rng(seed)`, shared by both variants. `ids_a`/`ids_b`, if given,
    are checked to be the same images in the same order. The interval is the percentile
    interval at `level`; `significant` when it excludes 0.
    """
    _check_metric(metric)
    _check_draws(draws, seed)
    level = _check_level(level)
    a, b = _check_pair(hists_a, hists_b, ids_a, ids_b)
    n = a.shape[1]
    observed = float(
        _scores(_components(b.sum(axis=0)), n)[metric]
        - _scores(_components(a.sum(axis=0)), n)[metric]
    )
    diffs = _draws(a, b, metric, int(draws), int(seed))
    low, high = (float(q) for q in np.quantile(diffs, [(1 - level) / 2, (1 + level) / 2]))
    return BootstrapDiff(
        metric=metric,
        observed=observed,
        low=low,
        high=high,
        draws=int(draws),
        seed=int(seed),
        n_images=int(a.shape[0]),
        significant=bool(low > 0 or high < 0),
        level=level,
        std=float(diffs.std(ddof=1)) if draws > 1 else None,
    )


def _short(ids: Iterable[str], limit: int = 10) -> str:
    items = sorted(ids, key=str)
    more = f" and {len(items) - limit} more" if len(items) > limit else ""
    return ", ".join(map(str, items[:limit])) + more


def pool_seeds(
    per_image_lists: Sequence[Sequence[Mapping[str, Any]]],
) -> tuple[tuple[str, ...], np.ndarray]:
    """One variant's per-image confusion histograms summed over its seeds.

    `per_image_lists` has one entry per seed: that result's `per_image` list of dicts with
    `sample_id` and `confusion` (the image's histogram, a list of lists of ints). Every seed
    must hold the same images (an error names the missing ones); the order of the first seed
    is kept. Returns (sample ids, int64 array N×R×C).
    """
    if not per_image_lists:
        raise InvalidValueError(
            "pool_seeds needs the per-image scores of at least one seed, found none"
        )
    ids: tuple[str, ...] = ()
    total: np.ndarray | None = None
    for s, entries in enumerate(per_image_lists):
        if entries is None or len(entries) == 0:
            raise InvalidValueError(
                f"seed #{s} has no per-image scores (evaluate with per-image output)"
            )
        by_id: dict[str, Any] = {}
        for i, entry in enumerate(entries):
            if not isinstance(entry, Mapping) or "sample_id" not in entry:
                raise InvalidValueError(
                    f"seed #{s}, per-image entry {i}: expected a dict with sample_id"
                )
            if "confusion" not in entry:
                raise InvalidValueError(
                    f"seed #{s}, image {entry['sample_id']!r} has no 'confusion' histogram; "
                    "re-evaluate with a p2pbench that records per-image confusions"
                )
            if entry["sample_id"] in by_id:
                raise InvalidValueError(f"seed #{s} lists image {entry['sample_id']!r} twice")
            by_id[entry["sample_id"]] = entry["confusion"]
        if s == 0:
            ids = tuple(by_id)
        else:
            missing, extra = set(ids) - set(by_id), set(by_id) - set(ids)
            if missing or extra:
                parts = []
                if missing:
                    parts.append(f"lacks {len(missing)} image(s) of seed #0: {_short(missing)}")
                if extra:
                    parts.append(f"has {len(extra)} image(s) seed #0 lacks: {_short(extra)}")
                raise InvalidValueError(
                    f"seed #{s} was not scored on the same images as seed #0: it "
                    + "; it ".join(parts)
                )
        try:
            arr = np.asarray([by_id[k] for k in ids])
        except ValueError as e:
            raise InvalidValueError(
                f"seed #{s}: confusion histograms of different shapes ({e})"
            ) from None
        if arr.dtype.kind not in "iu" or arr.ndim != 3:
            raise InvalidValueError(
                f"seed #{s}: expected confusion histograms as lists of lists of ints, found an "
                f"array of dtype {arr.dtype} and shape {arr.shape}"
            )
        if np.any(arr < 0):
            raise InvalidValueError(f"seed #{s}: negative counts in a confusion histogram")
        if total is None:
            total = arr.astype(np.int64)
        elif arr.shape != total.shape:
            raise InvalidValueError(
                f"seed #{s}: histograms of shape {arr.shape[1:]}, seed #0 {total.shape[1:]}"
            )
        else:
            total = total + arr.astype(np.int64)
    assert total is not None
    return ids, total
