"""Decoded, resized samples kept on disk, so a 2048×1024 PNG is decoded and resized once.

A dataset with a cache (`dataset.decode_cache = DecodeCache(...)`) looks each sample up by a
key of what produced it: the files' paths, sizes and modification times, the output size, the
resize filters and the direction (`PairedDataset.decode_key`). An entry holds the images as
uint8, which `to_tensor_image` turns back into exactly the float tensors `load` returned
(`quantize_uint8` is its exact inverse on such images), and the label map. Entries are written
atomically; a changed file has a new key, and an unreadable entry is decoded again. The random
jitter is applied after the cache, so it is never cached.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from p2pbench.base import p2pbench_home
from p2pbench.data.sample import Sample, quantize_uint8, to_tensor_image

FORMAT = 1  # bump when an entry's layout or a decoder changes


def default_decode_cache_dir() -> Path:
    """`$P2PBENCH_HOME/decoded`."""
    return p2pbench_home() / "decoded"


def file_stamp(path: Path) -> str:
    """A file's identity for a cache key: absolute path, size and modification time (ns)."""
    st = path.stat()
    return f"{path.resolve()}:{st.st_size}:{st.st_mtime_ns}"


class DecodeCache:
    """A folder of decoded samples, keyed by `PairedDataset.decode_key`."""

    def __init__(self, folder: str | os.PathLike[str] | None = None) -> None:
        self.folder = Path(folder) if folder is not None else default_decode_cache_dir()
        self.hits = self.misses = 0

    def path(self, key: str) -> Path:
        digest = hashlib.sha256(f"{FORMAT}|{key}".encode()).hexdigest()
        return self.folder / digest[:2] / f"{digest}.npz"

    def get(self, key: str) -> Sample | None:
        """The cached sample, or None when there is none (or it cannot be read)."""
        path = self.path(key)
        try:
            with np.load(path, allow_pickle=False) as entry:
                if str(entry["key"]) != key:  # a hash collision: treat as missing
                    return None
                labels = entry["label"].astype(np.int64) if "label" in entry else None
                label = torch.from_numpy(labels) if labels is not None else None
                sample = Sample(
                    to_tensor_image(entry["input"]),
                    to_tensor_image(entry["target"]),
                    label,
                    str(entry["sample_id"]),
                )
        except (OSError, KeyError, ValueError, zipfile.BadZipFile):
            self.misses += 1
            return None
        self.hits += 1
        return sample

    def put(self, key: str, sample: Sample) -> None:
        """Store `sample` (atomically: a reader sees the whole entry or none)."""
        arrays: dict[str, Any] = {
            "key": np.array(key),
            "sample_id": np.array(sample.sample_id),
            "input": _as_uint8_image(sample.input),
            "target": _as_uint8_image(sample.target),
        }
        if sample.label is not None:
            if int(sample.label.min()) < 0 or int(sample.label.max()) > 255:
                return  # not a trainId map: leave it uncached rather than change it
            arrays["label"] = sample.label.numpy().astype(np.uint8)
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".npz", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **arrays)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def _as_uint8_image(x: torch.Tensor) -> np.ndarray:
    """A [-1, 1] 3×H×W image as the uint8 H×W×3 array it was decoded from."""
    return quantize_uint8(x).permute(1, 2, 0).contiguous().numpy()
