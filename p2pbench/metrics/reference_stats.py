"""Reference (real-image) Inception statistics: computed once, cached by content, portable.

A statistics file holds the float64 sufficient statistics (n, Σx, Σxxᵀ) of the pool3 features
of a reference set, optionally the features themselves (N×2048, sample order; KID needs them),
and its provenance. It is cached under ``p2pbench_home()/stats/<key>.pt``, where the key is the
sha256 of everything that changes the numbers (`StatsKey`): the content of the real images
(`reference_digest`: their uint8 bytes and shapes, in sample order, never their path), the
protocol, the preprocessing mode, the weights and the count. Files are written atomically and
read with ``weights_only=True``; an entry that is unreadable, holds another key or another count
is stale: `lookup_cached` says so (with a `StaleStatsWarning`) and the caller recomputes it::

    {"format": "p2pbench-inception-stats", "version": 1, "key": {...StatsKey...}, "n": int,
     "sum": float64 (d,), "sum_outer": float64 (d, d), "features": float64 (n, d) | None,
     "provenance": {...}}

pytorch-fid's ``.npz`` (``mu``, ``sigma`` with ``np.cov``'s ddof=1) can be exported and imported;
an imported file gives (μ, Σ) only, with no sample count and no features.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from p2pbench.base import atomic_path, p2pbench_home, read_versioned
from p2pbench.distributed import warn
from p2pbench.errors import BadInputError, P2PBenchWarning
from p2pbench.metrics.frechet import GaussianStats, stats_from_sums

STATS_FORMAT = "p2pbench-inception-stats"
STATS_VERSION = 1


class StatsFileError(BadInputError, ValueError):
    """A statistics file is unreadable, of another format, or not the one asked for."""


class StaleStatsWarning(P2PBenchWarning):
    """A cached statistics file could not be used and is recomputed."""


def image_digest(image: Tensor) -> str:
    """sha256 of one uint8 3×H×W image as the extractor sees it: its shape, then its bytes."""
    if image.dtype != torch.uint8 or image.ndim != 3 or image.shape[0] != 3:
        raise ValueError(
            f"expected a uint8 3×H×W image, found {image.dtype} of shape {tuple(image.shape)}; "
            "quantize the targets first (p2pbench.data.quantize_uint8)"
        )
    h = hashlib.sha256(json.dumps(list(image.shape)).encode())
    h.update(image.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def combine_digests(digests: Iterable[str]) -> str:
    """sha256 of per-image digests in sample order: the content digest of a set."""
    h = hashlib.sha256()
    for d in digests:
        h.update(d.encode())
    return h.hexdigest()


def reference_digest(images: Iterable[Tensor]) -> str:
    """Content digest of reference images: uint8 3×H×W images or N×3×H×W batches, in order."""
    return combine_digests(
        image_digest(im) for item in images for im in (item if item.ndim == 4 else [item])
    )


@dataclass(frozen=True)
class StatsKey:
    """Everything that changes reference statistics; its digest names the cache file."""

    content_sha256: str  # `reference_digest` of the real uint8 images, in sample order
    protocol: str  # protocol key and digest, e.g. "synthcity@v1:3f2a..."
    mode: str  # FID preprocessing mode
    weights_sha256: str
    n_images: int
    compute: str = "cpu/nchw/fp32"  # `compute_key` of the features' compute path

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def digest(self) -> str:
        text = json.dumps(
            {"format": STATS_FORMAT, "version": STATS_VERSION, **self.as_dict()},
            sort_keys=True,
            separators=(",", ":"),
        )
        return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class ReferenceStats:
    """Sufficient statistics of reference features, and optionally the features."""

    n: int
    total: Tensor  # Σx, float64 (d,)
    outer: Tensor  # Σxxᵀ, float64 (d, d)
    features: Tensor | None  # float64 (n, d) in sample order, or None
    provenance: dict[str, Any]

    def gaussian(self) -> GaussianStats:
        return stats_from_sums(self.n, self.total, self.outer)


def stats_dir(home: Path | None = None) -> Path:
    return (home or p2pbench_home()) / "stats"


def stats_path(key: StatsKey, home: Path | None = None) -> Path:
    return stats_dir(home) / f"{key.digest()}.pt"


def save_stats(
    stats: ReferenceStats, path: str | os.PathLike[str], key: StatsKey | None = None
) -> None:
    """Write a statistics file atomically (plain tensors and containers only)."""
    payload = {
        "format": STATS_FORMAT,
        "version": STATS_VERSION,
        "key": key.as_dict() if key is not None else None,
        "n": stats.n,
        "sum": stats.total.to(torch.float64).cpu(),
        "sum_outer": stats.outer.to(torch.float64).cpu(),
        "features": None if stats.features is None else stats.features.to(torch.float64).cpu(),
        "provenance": stats.provenance,
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_stats(path: str | os.PathLike[str], key: StatsKey | None = None) -> ReferenceStats:
    """Read a statistics file with ``weights_only=True``; with `key`, check it is that one."""
    p = Path(path)
    remedy = "delete it to recompute (a pytorch-fid .npz is read with import_npz)"
    data = read_versioned(p, STATS_FORMAT, STATS_VERSION, StatsFileError, remedy=remedy)
    if key is not None and data.get("key") != key.as_dict():
        raise StatsFileError(
            f"{p} holds statistics for {data.get('key')}, not for "
            f"{key.as_dict()}; delete it to recompute"
        )
    try:
        stats = ReferenceStats(
            int(data["n"]), data["sum"], data["sum_outer"], data["features"], data["provenance"]
        )
    except (KeyError, TypeError, ValueError) as e:
        raise StatsFileError(
            f"{p}: expected entries n, sum, sum_outer, features and provenance, found "
            f"{sorted(data)} ({type(e).__name__}: {e}); {remedy}"
        ) from None
    if problem := _inconsistency(stats):
        raise StatsFileError(f"{p}: {problem}; {remedy}")
    return stats


def _inconsistency(stats: ReferenceStats) -> str | None:
    """What makes the sums and features disagree with each other and with n, if anything."""
    if not all(isinstance(t, Tensor) for t in (stats.total, stats.outer)):
        return "expected tensors 'sum' and 'sum_outer'"
    d = stats.total.shape[0] if stats.total.ndim == 1 else -1
    if d < 1 or tuple(stats.outer.shape) != (d, d):
        found = f"{tuple(stats.total.shape)} and {tuple(stats.outer.shape)}"
        return f"expected sum (d,) and sum_outer (d, d), found {found}"
    f = stats.features
    if f is not None and (not isinstance(f, Tensor) or tuple(f.shape) != (stats.n, d)):
        found = str(tuple(f.shape)) if isinstance(f, Tensor) else type(f).__name__
        return f"expected features of shape ({stats.n}, {d}) for n = {stats.n}, found {found}"
    return None


@dataclass(frozen=True)
class CacheLookup:
    """What the cache holds for a key: usable `stats`, nothing, or a `stale` entry (why)."""

    key: StatsKey
    path: Path
    stats: ReferenceStats | None
    stale: str | None = None


def lookup_cached(
    key: StatsKey, home: Path | None = None, *, need_features: bool = False
) -> CacheLookup:
    """The cache entry for `key`; one that is unreadable, truncated, of another key or count
    (or without features, with `need_features`) is reported stale with a `StaleStatsWarning`."""
    path = stats_path(key, home)
    if not path.is_file():
        return CacheLookup(key, path, None)
    reason = None
    try:
        stats = load_stats(path, key)
    except StatsFileError as e:
        reason = str(e)
    else:
        if stats.n != key.n_images:
            reason = f"it covers {stats.n} images, the key says {key.n_images}"
        elif need_features and stats.features is None:
            reason = "it holds no features (KID needs them)"
        else:
            return CacheLookup(key, path, stats)
    warn(
        f"stale reference statistics {path}: {reason}; recomputing and overwriting them",
        StaleStatsWarning,
        stacklevel=2,
    )
    return CacheLookup(key, path, None, reason)


def find_cached(key: StatsKey, home: Path | None = None) -> ReferenceStats | None:
    """The cached statistics for `key`, or None on a miss or a stale entry (with a warning)."""
    return lookup_cached(key, home).stats


def store_cached(key: StatsKey, stats: ReferenceStats, home: Path | None = None) -> Path:
    """Cache `stats` under `key` (atomically); they must cover the key's number of images."""
    if stats.n != key.n_images:
        raise ValueError(f"statistics cover {stats.n} images, the key says {key.n_images}")
    path = stats_path(key, home)
    save_stats(stats, path, key)
    return path


def cached_stats(
    key: StatsKey, compute: Callable[[], ReferenceStats], home: Path | None = None
) -> tuple[ReferenceStats, bool]:
    """(statistics, whether they came from the cache); computed and cached on a miss or a stale
    entry (overwritten atomically)."""
    found = find_cached(key, home)
    if found is not None:
        return found, True
    stats = compute()
    store_cached(key, stats, home)
    return stats, False


def export_npz(stats: ReferenceStats | GaussianStats, path: str | os.PathLike[str]) -> None:
    """Write pytorch-fid's ``.npz`` (``mu``, ``sigma``: float64, sigma with ddof=1)."""
    g = stats.gaussian() if isinstance(stats, ReferenceStats) else stats
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez_compressed(f, mu=g.mu.cpu().numpy(), sigma=g.sigma.cpu().numpy())


def import_npz(path: str | os.PathLike[str]) -> GaussianStats:
    """(μ, Σ) from a pytorch-fid ``.npz`` (read without pickle), as float64."""
    p = Path(path)
    try:
        with np.load(p, allow_pickle=False) as f:
            if "mu" not in f or "sigma" not in f:
                raise StatsFileError(
                    f"{p}: expected arrays 'mu' and 'sigma' (pytorch-fid's "
                    f"format), found {sorted(f.files)}"
                )
            mu, sigma = np.asarray(f["mu"], np.float64), np.asarray(f["sigma"], np.float64)
    except (OSError, ValueError, EOFError) as e:
        if isinstance(e, StatsFileError):
            raise
        raise StatsFileError(f"{p} is not a readable .npz file: {e}") from e
    try:
        return GaussianStats(torch.from_numpy(mu), torch.from_numpy(sigma), None)
    except ValueError as e:
        raise StatsFileError(f"{p}: {e}") from e
