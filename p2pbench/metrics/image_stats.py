"""Inception statistics of image sets and FID between two of them (the library of `p2pbench fid`).

`compute_stats` streams a folder of images, or an iterable of uint8 batches / images, through
the extractor; `fid_between` takes two folders, pytorch-fid ``.npz`` files or p2pbench
statistics files (``.pt``), in any mix, like pytorch-fid's command line.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from p2pbench.errors import FileAccessError, InvalidValueError, PathNotFoundError
from p2pbench.metrics.encoders.inception import InceptionExtractor, build_extractor
from p2pbench.metrics.encoders.weights import LoadedWeights
from p2pbench.metrics.frechet import GaussianStats, frechet_distance
from p2pbench.metrics.reference_stats import ReferenceStats, import_npz, load_stats
from p2pbench.provenance import package_versions

IMAGE_EXTENSIONS = (".bmp", ".jpeg", ".jpg", ".pgm", ".png", ".ppm", ".tif", ".tiff", ".webp")
Images = str | os.PathLike[str] | Iterable[Tensor]
Weights = LoadedWeights | str | os.PathLike[str] | None


def list_images(folder: str | os.PathLike[str]) -> list[Path]:
    """Image files directly in `folder` (pytorch-fid's extensions), sorted by name."""
    p = Path(folder)
    if not p.is_dir():
        raise PathNotFoundError(f"image folder not found: {p}")
    files = sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_EXTENSIONS)
    if not files:
        raise PathNotFoundError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) in {p}")
    return files


def read_image(path: Path) -> Tensor:
    """An image file as uint8 3×H×W RGB."""
    try:
        with Image.open(path) as im:
            array = np.asarray(im.convert("RGB"), dtype=np.uint8)
    except (OSError, Image.DecompressionBombError) as e:
        raise FileAccessError(f"cannot read image {path}: {e}") from e
    return torch.from_numpy(array.copy()).permute(2, 0, 1).contiguous()


def _batches(images: Images, batch_size: int) -> Iterator[Tensor | list[Tensor]]:
    if isinstance(images, (str, os.PathLike)):
        files = list_images(images)
        for i in range(0, len(files), batch_size):
            yield [read_image(f) for f in files[i : i + batch_size]]
        return
    pending: list[Tensor] = []
    for item in images:
        if item.ndim == 4:
            yield from ([pending] if pending else [])
            pending = []
            yield item
        else:
            pending.append(item)
            if len(pending) == batch_size:
                yield pending
                pending = []
    if pending:
        yield pending


def compute_stats(
    images: Images,
    mode: str = "tf",
    weights: Weights = None,
    *,
    batch_size: int = 50,
    device: str | torch.device = "cpu",
    keep_features: bool = True,
    extractor: InceptionExtractor | None = None,
) -> ReferenceStats:
    """Sums (and features, in input order) of pool3 features of a folder or of uint8 images.

    `images` is a folder, or an iterable of uint8 N×3×H×W batches and/or 3×H×W images.
    """
    ex = extractor or build_extractor(mode, weights, device)
    if ex.mode != mode:
        raise ValueError(f"the extractor uses mode {ex.mode!r}, not the requested {mode!r}")
    n, total, outer, kept = 0, None, None, []
    for batch in _batches(images, batch_size):
        f = ex(batch).pool3.cpu()
        n += f.shape[0]
        total = f.sum(0) if total is None else total + f.sum(0)
        outer = f.T @ f if outer is None else outer + f.T @ f
        if keep_features:
            kept.append(f)
    if total is None or outer is None:
        raise ValueError("no images were given")
    provenance = {
        "source": str(images) if isinstance(images, (str, os.PathLike)) else "in-memory images",
        **ex.describe(),
        "versions": package_versions(),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    return ReferenceStats(n, total, outer, torch.cat(kept) if keep_features else None, provenance)


def _load(
    path: Path, mode: str, extractor: Callable[[], InceptionExtractor], batch_size: int
) -> tuple[GaussianStats, dict[str, Any]]:
    if path.is_dir():
        stats = compute_stats(
            path, mode, batch_size=batch_size, keep_features=False, extractor=extractor()
        )
        return stats.gaussian(), {
            "path": str(path),
            "kind": "folder",
            "n": stats.n,
            "inception": {k: stats.provenance[k] for k in ("network", "mode", "weights")},
        }
    if path.suffix == ".npz":
        return import_npz(path), {
            "path": str(path),
            "kind": "npz",
            "n": None,
            "note": "a .npz records no preprocessing mode (pytorch-fid "
            "writes its own, 'pytorch-fid')",
        }
    if path.suffix == ".pt":
        stats = load_stats(path)
        if stats.provenance.get("mode", mode) != mode:
            raise InvalidValueError(
                f"{path} holds statistics in mode {stats.provenance['mode']!r}, "
                f"not {mode!r}; FIDs of different modes are not comparable"
            )
        return stats.gaussian(), {"path": str(path), "kind": "stats", "n": stats.n}
    raise InvalidValueError(
        f"expected an image folder, a .npz (pytorch-fid) or a .pt statistics file, found {path}"
    )


def fid_between(
    path_a: str | os.PathLike[str],
    path_b: str | os.PathLike[str],
    mode: str = "tf",
    weights: Weights = None,
    batch_size: int = 50,
    device: str | torch.device = "cpu",
) -> dict[str, Any]:
    """FID between two folders / ``.npz`` / ``.pt`` statistics; returns the value and inputs."""
    extractors: list[InceptionExtractor] = []

    def extractor() -> InceptionExtractor:  # built once, only if a folder needs it
        if not extractors:
            extractors.append(build_extractor(mode, weights, device))
        return extractors[0]

    loaded = [_load(Path(p), mode, extractor, batch_size) for p in (path_a, path_b)]
    return {
        "fid": frechet_distance(loaded[0][0], loaded[1][0]),
        "mode": mode,
        "inputs": [info for _, info in loaded],
    }
