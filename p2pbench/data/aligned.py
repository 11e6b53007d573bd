"""The pix2pix "aligned" folder format: one image per pair, A on the left half, B on the right.

    root/<split>/*.png|*.jpg           each image W = 2·H: A | B
    root/<split>_labels/<stem>.png     optional 8-bit trainId maps at the size of one half

Samples are in sorted file-name order; the sample id is the file stem. AtoB gives input = A,
BtoA gives input = B. With `size`, both halves are resized to size×size (`resize` filter) and the
labels with nearest neighbour. `n` keeps the first n pairs. With `label_colours` (a class table)
the labels are instead decoded from the input half, a colour label map, by exact colour match
at its native resolution (other colours → 255), then resized with nearest neighbour.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from p2pbench.data.colour_labels import ClassTable, decode_colours
from p2pbench.data.decode_cache import file_stamp
from p2pbench.data.sample import (
    PairedDataset,
    Sample,
    Transform,
    pil_filter,
    to_tensor_image,
)
from p2pbench.errors import FileAccessError, InvalidValueError, PathNotFoundError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
DIRECTIONS = ("AtoB", "BtoA")


def list_aligned(root: Path, split: str) -> list[Path]:
    """The pair images of a split, sorted by name; errors if the folder is missing or empty."""
    folder = root / split
    if not folder.is_dir():
        found = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
        raise PathNotFoundError(
            f"expected an aligned split folder {folder}, which does not exist"
            + (f"; {root} has {found}" if root.is_dir() else f"; {root} does not exist either")
        )
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise PathNotFoundError(
            f"no .png/.jpg images in {folder}; an aligned folder holds "
            "A|B pair images in root/<split>/"
        )
    stems: dict[str, Path] = {}
    for f in files:
        if f.stem in stems:
            raise InvalidValueError(
                f"two images share the stem {f.stem!r} in {folder}: "
                f"{stems[f.stem].name} and {f.name}; keep one"
            )
        stems[f.stem] = f
    return files


HIGH_DEPTH_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I", "F")
"""Pillow modes of 16-bit and float images: converting them to 8-bit RGB would truncate."""


def _high_depth(im: Image.Image) -> str | None:
    """The 16-bit or float pixel format of an opened image, else None. A 48-bit RGB PNG opens
    as mode RGB (Pillow keeps the high byte); its raw mode (`RGB;16B`) tells."""
    if im.mode in HIGH_DEPTH_MODES:
        return im.mode
    raw = [str(tile[3]) for tile in (getattr(im, "tile", None) or []) if len(tile) > 3]
    return next((r for r in raw if ";16" in r or ";32" in r), None)


def check_pairs(files: list[Path], size: int | None) -> None:
    """Every file is an A|B pair (W = 2·H: two square halves) of 8-bit pixels, and without
    `size` (no resize) all pairs share one size; read from the headers, before any work."""
    shapes: dict[tuple[int, int], str] = {}
    for path in files:
        try:
            with Image.open(path) as im:
                (w, h), mode = im.size, _high_depth(im)
        except (OSError, ValueError, Image.DecompressionBombError) as e:
            raise FileAccessError(f"cannot read image {path}: {e}") from e
        if mode is not None:
            raise InvalidValueError(
                f"{path} has {mode} pixels (16-bit or float), which would be truncated to "
                "8 bits; convert the folder to 8-bit RGB images"
            )
        if w != 2 * h:
            raise InvalidValueError(
                f"{path} is {w}×{h} (W×H), not an aligned pair: expected W = 2·H, A on the "
                "left half and B on the right, each square"
            )
        shapes.setdefault((w, h), path.name)
    if size is None and len(shapes) > 1:
        listing = ", ".join(f"{w}×{h} ({name})" for (w, h), name in sorted(shapes.items()))
        raise InvalidValueError(
            f"pairs of different sizes in {files[0].parent}: {listing}; give a size to "
            "resize them to, or make them uniform"
        )


def _open_rgb(path: Path) -> Image.Image:
    try:
        with Image.open(path) as im:
            if (depth := _high_depth(im)) is not None:
                raise InvalidValueError(f"{depth} pixels would be truncated to 8 bits")
            return im.convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        raise FileAccessError(f"cannot read image {path}: {e}") from e


def read_label(path: Path) -> np.ndarray:
    """An 8-bit trainId PNG → uint8 H×W (mode L, or P read as raw indices)."""
    try:
        with Image.open(path) as im:
            if im.mode not in ("L", "P"):
                raise InvalidValueError(
                    f"expected an 8-bit single-channel PNG, got mode {im.mode!r}"
                )
            return np.array(im, dtype=np.uint8)
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        raise FileAccessError(f"cannot read label map {path}: {e}") from e


class AlignedDataset(PairedDataset):
    """Pairs from an aligned folder; labels (with `load_labels`) decoded from the input half by
    `label_colours` when given, else from `<split>_labels/` when that folder exists."""

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: str = "train",
        direction: str = "AtoB",
        size: int | None = None,
        transform: Transform | None = None,
        *,
        resize: str = "bicubic",
        n: int | None = None,
        load_labels: bool = True,
        transform_seed: int = 0,
        label_colours: ClassTable | None = None,
    ) -> None:
        if direction not in DIRECTIONS:
            raise InvalidValueError(
                f"unknown direction {direction!r}; choose one of {', '.join(DIRECTIONS)}"
            )
        if size is not None and size < 1:
            raise InvalidValueError(f"size must be a positive number of pixels or None, got {size}")
        super().__init__(transform, transform_seed)
        self.root, self.split, self.direction, self.size = Path(root), split, direction, size
        self.resize, self._filter = resize, pil_filter(resize)
        self.files = list_aligned(self.root, split)
        if n is not None:
            if not 1 <= n <= len(self.files):
                raise InvalidValueError(
                    f"asked for the first {n} pairs of {self.root / split}, which "
                    f"has {len(self.files)}"
                )
            self.files = self.files[:n]
        check_pairs(self.files, size)
        self.label_colours = label_colours if load_labels else None
        labels = self.root / f"{split}_labels"
        use_dir = load_labels and label_colours is None and labels.is_dir()
        self.label_dir: Path | None = labels if use_dir else None
        if self.label_dir is not None:
            missing = [
                f.stem for f in self.files if not (self.label_dir / f"{f.stem}.png").is_file()
            ]
            if missing:
                raise PathNotFoundError(
                    f"{self.label_dir} exists but lacks label maps for {len(missing)} of "
                    f"{len(self.files)} images, e.g. {missing[:5]}; add them or remove the folder"
                )

    @property
    def sample_ids(self) -> tuple[str, ...]:
        return tuple(f.stem for f in self.files)

    def __len__(self) -> int:
        return len(self.files)

    def decode_key(self, index: int) -> str:
        path = self.files[index]
        files = [path] + ([self.label_dir / f"{path.stem}.png"] if self.label_dir else [])
        stamps = "|".join(file_stamp(p) for p in files)
        colours = repr(self.label_colours) if self.label_colours is not None else ""
        return f"aligned|{stamps}|{self.size}|{self.resize}|{self.direction}|{colours}"

    def load(self, index: int) -> Sample:
        path = self.files[index]
        pair = _open_rgb(path)
        w, h = pair.size
        if w % 2:
            raise InvalidValueError(
                f"{path} is {w}×{h} (W×H); an aligned pair needs an even width, "
                "A on the left half and B on the right"
            )
        half = w // 2
        a, b = pair.crop((0, 0, half, h)), pair.crop((half, 0, w, h))
        ids: np.ndarray | None = None
        if self.label_colours is not None:  # the input half, before any resize
            colour_map = np.asarray(a if self.direction == "AtoB" else b, dtype=np.uint8)
            ids = decode_colours(colour_map, self.label_colours)[0]
        if self.size is not None:
            a = a.resize((self.size, self.size), self._filter)
            b = b.resize((self.size, self.size), self._filter)
        inp, target = (a, b) if self.direction == "AtoB" else (b, a)
        label = None
        if self.label_dir is not None:
            label_path = self.label_dir / f"{path.stem}.png"
            ids = read_label(label_path)
            if ids.shape != (h, half):
                raise InvalidValueError(
                    f"label map {label_path} is {ids.shape[1]}×{ids.shape[0]} "
                    f"(W×H) but each half of {path.name} is {half}×{h}"
                )
        if ids is not None:
            if self.size is not None and ids.shape != (self.size, self.size):
                ids = np.array(
                    Image.fromarray(ids).resize((self.size, self.size), Image.Resampling.NEAREST)
                )
            label = torch.from_numpy(ids.astype(np.int64))
        return Sample(to_tensor_image(inp), to_tensor_image(target), label, path.stem)
