"""Write synthcity to disk in the pix2pix aligned format, atomically, with a hashed manifest.

Layout (the sides of the PyTorch port's Cityscapes: photo A on the left, colour labels B on the
right, so labels → photo is BtoA):

    out/train/000000.png          size × 2·size RGB: photo | colour label map
    out/train_labels/000000.png   size × size 8-bit trainIds (lossless)
    out/val/..., out/val_labels/...
    out/synthcity.json            manifest: version, size, seed, counts, sha256 of every file

Everything is written into a hidden temporary folder beside `out`, the manifest last, and renamed
into place at the end (`base.atomic_dir`), so an interrupted run never leaves a folder that looks
like a complete dataset.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from p2pbench.base import atomic_dir, check_new_output_dir
from p2pbench.data.synthcity.dataset import (
    SYNTHCITY_CLASSES,
    SYNTHCITY_VERSION,
    SYNTHCITY_VERSIONS,
    check_size,
    check_version,
    colorize,
    synthcity_arrays,
)
from p2pbench.errors import InvalidValueError, PathExistsError

MANIFEST = "synthcity.json"
FORMAT = "p2pbench-synthcity"


def _png_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def set_digest(files: dict[str, str]) -> str:
    """One sha256 over the sorted (relative path, file sha256) list."""
    h = hashlib.sha256()
    for rel in sorted(files):
        h.update(f"{rel}\0{files[rel]}\n".encode())
    return h.hexdigest()


def write_synthcity(
    out: str | os.PathLike[str],
    size: int = 128,
    n_train: int = 400,
    n_val: int = 100,
    seed: int = 0,
    *,
    version: int = SYNTHCITY_VERSION,
    overwrite: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Generate synthcity and write it under `out` (see the module docstring); returns `out`.

    `out` must be missing or an empty folder; `overwrite=True` replaces an existing synthcity
    folder (one with a manifest) only after the new one is complete; any other existing path is
    refused, before anything is generated. `progress(done, total)` is called after each pair.
    """
    check_size(size)
    check_version(version)
    if n_train < 0 or n_val < 0 or n_train + n_val == 0:
        raise InvalidValueError(
            f"need non-negative counts and at least one sample, got "
            f"n_train={n_train}, n_val={n_val}"
        )
    out = Path(out)
    check_new_output_dir(out, overwrite)
    if overwrite and out.exists() and not (out / MANIFEST).is_file():
        raise PathExistsError(
            f"{out} exists and is not a synthcity folder (no {MANIFEST}); --overwrite "
            "replaces only a synthcity folder: remove it yourself or choose another folder"
        )
    with atomic_dir(out, overwrite=overwrite) as tmp:
        files: dict[str, str] = {}
        counts = {"train": n_train, "val": n_val}
        total, done = n_train + n_val, 0
        for split, n in counts.items():
            (tmp / split).mkdir()
            (tmp / f"{split}_labels").mkdir()
            for i in range(n):
                photo, ids = synthcity_arrays(seed, split, i, size, version)
                pair = np.concatenate([photo, colorize(ids)], axis=1)
                for rel, data in (
                    (f"{split}/{i:06d}.png", _png_bytes(pair)),
                    (f"{split}_labels/{i:06d}.png", _png_bytes(ids)),
                ):
                    (tmp / rel).write_bytes(data)
                    files[rel] = hashlib.sha256(data).hexdigest()
                done += 1
                if progress is not None:
                    progress(done, total)
        manifest = {
            "format": FORMAT,
            "generator_version": str(version),
            "size": size,
            "seed": seed,
            "counts": counts,
            "sides": {"A": "photo (left half)", "B": "colour label map (right half)"},
            "labels": "<split>_labels/<stem>.png, 8-bit Cityscapes trainIds",
            "classes": [
                {"train_id": c.train_id, "name": c.name, "color": list(c.color)}
                for c in SYNTHCITY_CLASSES
            ],
            "sha256": set_digest(files),
            "files": files,
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")  # last
    return out


def read_manifest(root: str | os.PathLike[str]) -> dict:
    """The manifest of a written synthcity folder, checked for format and version."""
    path = Path(root) / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise InvalidValueError(f"cannot read the synthcity manifest {path}: {e}") from e
    if manifest.get("format") != FORMAT:
        raise InvalidValueError(
            f"{path} is not a synthcity manifest (format {manifest.get('format')!r},"
            f" expected {FORMAT!r})"
        )
    if manifest.get("generator_version") not in [str(v) for v in SYNTHCITY_VERSIONS]:
        raise InvalidValueError(
            f"{path} was written by synthcity version {manifest.get('generator_version')!r}, "
            f"which this p2pbench does not know (it knows {list(SYNTHCITY_VERSIONS)}); "
            "regenerate it with `p2pbench data synth`"
        )
    return manifest


def verify_synthcity(root: str | os.PathLike[str]) -> None:
    """Check every file of a written synthcity folder against the manifest's sha256s."""
    root = Path(root)
    manifest = read_manifest(root)
    files: dict[str, str] = manifest["files"]
    if set_digest(files) != manifest["sha256"]:
        raise InvalidValueError(f"{root / MANIFEST}: the set sha256 does not match its file list")
    bad = [
        rel
        for rel, digest in sorted(files.items())
        if not (root / rel).is_file()
        or hashlib.sha256((root / rel).read_bytes()).hexdigest() != digest
    ]
    if bad:
        raise InvalidValueError(
            f"{len(bad)} files of {root} are missing or changed, e.g. {bad[:5]}; "
            "regenerate the folder with `p2pbench data synth`"
        )
