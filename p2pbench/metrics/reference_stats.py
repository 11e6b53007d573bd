"""Reference (real-image) Inception statistics: computed once, cached by content, portable.

A statistics file holds the float64 sufficient statistics (n, Σx, Σxxᵀ) of the pool3 features
of a reference set, optionally the features themselves (N×2048, sample order; KID needs them),
and its provenance. It is cached under ``p2pbench_home()/stats/<key>.pt``, where the key is the
sha256 of everything that changes the numbers (`StatsKey`), written atomically and read with
``weights_only=True``::

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
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from p2pbench.base import atomic_path, p2pbench_home, read_versioned
from p2pbench.metrics.frechet import GaussianStats, stats_from_sums

STATS_FORMAT = "p2pbench-inception-stats"
STATS_VERSION = 1


class StatsFileError(ValueError):
    """A statistics file is unreadable, of another format, or not the one asked for."""


@dataclass(frozen=True)
class StatsKey:
    """Everything that changes reference statistics; its digest names the cache file."""

    dataset: str
    split: str
    protocol: str  # protocol key and digest, e.g. "synthcity@v1:3f2a..."
    resolution: tuple[int, int]  # (H, W) of the images given to the extractor
    mode: str  # FID preprocessing mode
    weights_sha256: str
    n_images: int

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["resolution"] = list(self.resolution)
        return d

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
    data = read_versioned(
        p,
        STATS_FORMAT,
        STATS_VERSION,
        StatsFileError,
        remedy="delete it to recompute (a pytorch-fid .npz is read with import_npz)",
    )
    if key is not None and data.get("key") != key.as_dict():
        raise StatsFileError(
            f"{p} holds statistics for {data.get('key')}, not for "
            f"{key.as_dict()}; delete it to recompute"
        )
    return ReferenceStats(
        int(data["n"]), data["sum"], data["sum_outer"], data["features"], data["provenance"]
    )


def find_cached(key: StatsKey, home: Path | None = None) -> ReferenceStats | None:
    """The cached statistics for `key`, or None on a miss."""
    path = stats_path(key, home)
    return load_stats(path, key) if path.is_file() else None


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
    """(statistics, whether they came from the cache); computed and cached on a miss."""
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
