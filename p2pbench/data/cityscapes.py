"""Cityscapes in its official layout, as the pix2pix labels → photo task (FACTS §1).

    <root>/leftImg8bit/<split>/<city>/<city>_<seq>_<frame>_leftImg8bit.png   photo (A)
    <root>/gtFine/<split>/<city>/<city>_<seq>_<frame>_gtFine_color.png       colour labels (B)
    <root>/gtFine/<split>/<city>/<city>_<seq>_<frame>_gtFine_labelIds.png    label ids

The root is an argument, else the environment variable CITYSCAPES_DATASET (as in
cityscapesScripts). Frames are numbered in the order of `sorted(glob(gtFine/<split>/*/
*_color.png))`, the order in which the PyTorch port's preparation script numbers its pairs, so
the port's `<n>_fake_B.png` is frame `n` (`frame_index` maps ids to n).

Images are resized to size×size (square, as the port does): the colour map with `label_resize`
(default "bicubic", Pillow's default filter that the port's preparation used; the paper's Lua
data used "bilinear"), the photo with `photo_resize` (default "bicubic"). The label is the
labelIds map turned into trainIds with cityscapesScripts' table and is never resized.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import numpy as np
import torch
from PIL import Image

from p2pbench.data.aligned import read_label
from p2pbench.data.decode_cache import file_stamp
from p2pbench.data.sample import PairedDataset, Sample, Transform, pil_filter, to_tensor_image
from p2pbench.errors import FileAccessError, InvalidValueError, PathNotFoundError

ENV_VAR = "CITYSCAPES_DATASET"
COLOR_SUFFIX = "_gtFine_color.png"
DIRECTIONS = ("AtoB", "BtoA")


def resolve_root(data_root: str | os.PathLike[str] | None) -> Path:
    """The Cityscapes root from the argument, else $CITYSCAPES_DATASET; it must exist."""
    if data_root is not None:
        root, origin = Path(data_root), "the data root argument (--data-root)"
    elif os.environ.get(ENV_VAR):
        root, origin = Path(os.environ[ENV_VAR]), f"${ENV_VAR}"
    else:
        raise PathNotFoundError(
            f"no Cityscapes root given: pass --data-root DIR (data_root=...) or set {ENV_VAR} to "
            "the folder holding leftImg8bit/ and gtFine/"
        )
    if not (root / "gtFine").is_dir() or not (root / "leftImg8bit").is_dir():
        raise PathNotFoundError(
            f"{root} (from {origin}) is not a Cityscapes root: expected {root / 'gtFine'} and "
            f"{root / 'leftImg8bit'}; point --data-root or ${ENV_VAR} at the folder holding them"
        )
    return root


def trainid_lut() -> np.ndarray:
    """A 256-entry id → trainId table from cityscapesScripts (ignored classes → 255; -1 = not
    a Cityscapes id)."""
    try:
        from cityscapesscripts.helpers.labels import labels
    except ImportError as e:
        raise ImportError(
            "Cityscapes labels need cityscapesScripts' label table: pip install cityscapesscripts"
        ) from e
    lut = np.full(256, -1, dtype=np.int64)
    for label in labels:
        if 0 <= label.id < 256:
            lut[label.id] = label.trainId if 0 <= label.trainId < 255 else 255
    return lut


def labelids_to_trainids(ids: np.ndarray, lut: np.ndarray | None = None) -> np.ndarray:
    """A uint8 labelIds map → int64 trainIds; ids missing from the table raise an error."""
    lut = trainid_lut() if lut is None else lut
    out = lut[ids]
    if (out < 0).any():
        unknown = sorted(set(np.unique(ids[out < 0]).tolist()))
        raise InvalidValueError(f"label ids {unknown} are not in the Cityscapes label table")
    return out


@dataclass(frozen=True)
class CityscapesFrame:
    sample_id: str  # <city>_<seq>_<frame>
    city: str
    photo: Path
    color: Path
    label_ids: Path


def list_frames(root: Path, split: str) -> list[CityscapesFrame]:
    """Frames of a split in the port's order (sorted colour-file paths), checked for photos."""
    if not (root / "gtFine" / split).is_dir():
        found = sorted(p.name for p in (root / "gtFine").iterdir() if p.is_dir())
        raise PathNotFoundError(f"no split {split!r} in {root / 'gtFine'}; found {found}")
    colors = sorted(glob.glob(os.path.join(root, "gtFine", split, "*", "*" + COLOR_SUFFIX)))
    if not colors:
        raise PathNotFoundError(
            f"zero frames: no *{COLOR_SUFFIX} files in {root / 'gtFine' / split}/<city>/"
        )
    frames = []
    for c in map(Path, colors):
        sid, city = c.name[: -len(COLOR_SUFFIX)], c.parent.name
        photo = root / "leftImg8bit" / split / city / f"{sid}_leftImg8bit.png"
        if not photo.is_file():
            raise PathNotFoundError(f"colour label map {c} has no photo: expected {photo}")
        frames.append(CityscapesFrame(sid, city, photo, c, c.parent / f"{sid}_gtFine_labelIds.png"))
    photos = glob.glob(os.path.join(root, "leftImg8bit", split, "*", "*_leftImg8bit.png"))
    if len(photos) != len(frames):
        raise InvalidValueError(
            f"{len(photos)} photos in {root / 'leftImg8bit' / split} but "
            f"{len(frames)} colour label maps in {root / 'gtFine' / split}; "
            "every photo needs its gtFine files"
        )
    return frames


class CityscapesDataset(PairedDataset):
    """Cityscapes pairs at size×size with native-resolution trainId labels (BtoA: labels →
    photo; AtoB: photo → labels)."""

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        split: str = "val",
        size: int = 256,
        direction: str = "BtoA",
        transform: Transform | None = None,
        *,
        label_resize: str = "bicubic",
        photo_resize: str = "bicubic",
        load_labels: bool = True,
        n: int | None = None,
        transform_seed: int = 0,
    ) -> None:
        if direction not in DIRECTIONS:
            raise InvalidValueError(
                f"unknown direction {direction!r}; choose one of {', '.join(DIRECTIONS)}"
            )
        super().__init__(transform, transform_seed)
        self.root, self.split = resolve_root(root), split
        self.size, self.direction = size, direction
        self.label_resize, self.photo_resize = label_resize, photo_resize
        self._label_filter, self._photo_filter = pil_filter(label_resize), pil_filter(photo_resize)
        self.load_labels = load_labels
        self._lut = trainid_lut() if load_labels else None
        frames = list_frames(self.root, split)
        self.frame_index = MappingProxyType({f.sample_id: i for i, f in enumerate(frames)})
        if n is not None:
            if not 1 <= n <= len(frames):
                raise InvalidValueError(
                    f"asked for the first {n} frames of Cityscapes {split}, which has {len(frames)}"
                )
            frames = frames[:n]
        self.frames: tuple[CityscapesFrame, ...] = tuple(frames)

    @property
    def sample_ids(self) -> tuple[str, ...]:
        return tuple(f.sample_id for f in self.frames)

    def __len__(self) -> int:
        return len(self.frames)

    def decode_key(self, index: int) -> str:
        f = self.frames[index]
        files = [f.photo, f.color] + ([f.label_ids] if self._lut is not None else [])
        stamps = "|".join(file_stamp(p) for p in files)
        return (
            f"cityscapes|{stamps}|{self.size}|{self.photo_resize}|{self.label_resize}|"
            f"{self.direction}|{f.sample_id}"
        )

    def load(self, index: int) -> Sample:
        f = self.frames[index]
        try:
            with Image.open(f.photo) as im:
                photo = im.convert("RGB")
            with Image.open(f.color) as im:
                color = im.convert("RGB")
        except (OSError, Image.DecompressionBombError) as e:
            raise FileAccessError(f"cannot read Cityscapes frame {f.sample_id}: {e}") from e
        if color.size != photo.size:
            raise InvalidValueError(
                f"{f.color} is {color.size} (W, H) but its photo {f.photo} is {photo.size}"
            )
        label = None
        if self._lut is not None:
            if not f.label_ids.is_file():
                raise PathNotFoundError(f"missing label ids for {f.sample_id}: {f.label_ids}")
            ids = read_label(f.label_ids)
            if ids.shape != (photo.height, photo.width):
                raise InvalidValueError(
                    f"{f.label_ids} is {ids.shape[1]}×{ids.shape[0]} (W×H) but "
                    f"its photo is {photo.width}×{photo.height}"
                )
            label = torch.from_numpy(labelids_to_trainids(ids, self._lut))
        a = to_tensor_image(photo.resize((self.size, self.size), self._photo_filter))
        b = to_tensor_image(color.resize((self.size, self.size), self._label_filter))
        inp, target = (a, b) if self.direction == "AtoB" else (b, a)
        return Sample(inp, target, label, f.sample_id)
