"""Real-image features, cached by content: one small file per (encoder, image).

An entry's path is ``p2pbench_home()/features/<encoder key>/<d[:2]>/<d>.npy``: the encoder key
is the sha256 of everything that changes a feature (encoder, network, layer, mode, weights
sha256, the compute path `compute`: device type, memory format and precision, since
channels-last alone moves features by about 1e-6; and the format version), ``d`` the image's
content digest (`reference_stats.image_digest`: its uint8 bytes and shape, never its path). A
real image scored again on the same path, in any split, order or run, is never encoded twice.
Entries are float64 `.npy` files (exactly what the encoder returned), written atomically and
read with ``allow_pickle=False``; an unreadable entry or one of the wrong shape is computed
again and replaced.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from p2pbench.base import atomic_path, p2pbench_home

CACHE_VERSION = 2  # 2: the compute path is part of the key


def encoder_key(described: Mapping[str, Any]) -> str:
    """The cache key of an encoder's features from its description (`describe()`)."""
    fields = {
        "version": CACHE_VERSION,
        **{k: described.get(k) for k in ("encoder", "network", "layer", "dim", "mode", "compute")},
        "weights_sha256": (described.get("weights") or {}).get("sha256"),
    }
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()


class FeatureCache:
    """Features of real images under one encoder, by image digest."""

    def __init__(self, described: Mapping[str, Any], root: Path | None = None) -> None:
        self.dim = int(described["dim"])
        self.key = encoder_key(described)
        self.folder = (root or p2pbench_home() / "features") / self.key
        self.hits = self.stored = self.replaced = 0

    def path(self, digest: str) -> Path:
        return self.folder / digest[:2] / f"{digest}.npy"

    def get(self, digest: str) -> Tensor | None:
        """The cached features of one image, or None (absent, unreadable, wrong shape)."""
        path = self.path(digest)
        if not path.is_file():
            return None
        try:
            array = np.load(path, allow_pickle=False)
        except Exception:  # truncated, empty, not a .npy: computed again and replaced
            self.replaced += 1
            return None
        if not isinstance(array, np.ndarray):  # an .npz archive
            array.close()
            self.replaced += 1
            return None
        if array.shape != (self.dim,) or array.dtype != np.float64:
            self.replaced += 1
            return None
        self.hits += 1
        return torch.from_numpy(array)

    def put(self, digest: str, features: Tensor) -> None:
        array = features.detach().to("cpu", torch.float64).numpy()
        with atomic_path(self.path(digest)) as tmp, open(tmp, "wb") as f:
            np.save(f, array, allow_pickle=False)
        self.stored += 1

    def get_many(self, digests: Sequence[str]) -> list[Tensor | None]:
        return [self.get(d) for d in digests]

    def describe(self) -> dict[str, Any]:
        return {
            "folder": str(self.folder),
            "hits": self.hits,
            "stored": self.stored,
            "replaced": self.replaced,
        }
