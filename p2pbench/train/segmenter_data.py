"""The data a segmenter is trained on, read whole into memory (uint8) and checked first.

- synthcity (`SynthcityData`): rendered scenes of one data seed, as the shipped segmenters'
  recipes name them (`p2pbench.train.segmenter.RECIPES`);
- an aligned pix2pix folder (`AlignedData`: `DIR/<split>/*.png`, A|B side by side) with a class
  table (`p2pbench.data.colour_labels`): the label side is decoded by exact colour match, any
  other colour ignored and counted (more than 5% is refused); the photo side is the image;
- Cityscapes (`CityscapesData`: `leftImg8bit/` and `gtFine/`): photos with
  `*_gtFine_labelTrainIds.png` (else the labelIds turned into trainIds with cityscapesScripts'
  table), 19 classes.

Photos are resized to size×size as the datasets do (bicubic), labels with nearest neighbour.
For users' data the description records the data folder's name, a sha256 over the training
files (`p2pbench.base.files_sha256`) and the class table, so
`p2pbench.protocols.user_fcn_protocol` builds an FCN-score protocol from the weights file alone.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from tqdm import tqdm

from p2pbench.base import files_sha256
from p2pbench.data import (
    SYNTHCITY_CLASSES,
    AlignedDataset,
    CityscapesDataset,
    ClassTable,
    ColourStats,
    build_dataset,
    cityscapes_class_table,
    labelids_to_trainids,
    quantize_uint8,
    scan_colour_labels,
    trainid_lut,
)
from p2pbench.data.aligned import check_pairs, list_aligned, read_label
from p2pbench.data.colour_labels import colour_lut
from p2pbench.data.sample import IGNORE_ID, pil_filter
from p2pbench.errors import FileAccessError, InvalidValueError, PathNotFoundError

DATA_HASH_RULE = (
    "sha256 over the training files sorted by relative path: '<relative path>\\0<sha256 of "
    "the file>\\n' each"
)
CITYSCAPES_SIZE = 256
CITYSCAPES_OUTPUTS = 20
"""19 classes and the extra channel: the official network's shape (fits pix2pix-2017's
`--segmenter-weights`)."""


@dataclass(frozen=True)
class SegmentationData:
    """Training images and class-index maps in memory, and what they are (for the recipe)."""

    images: Tensor  # uint8 N×3×S×S RGB
    labels: Tensor  # uint8 N×S×S class indices, 255 = ignore
    table: ClassTable | None  # users' data: the classes recorded in the weights file
    description: dict[str, Any]  # data, data_name, split, size, n_train, data_sha256, ...
    num_outputs: int  # output channels of the segmenter to train
    label_stats: ColourStats | None = None  # aligned folders: label pixels in no class colour


@dataclass(frozen=True)
class SynthcityData:
    """`n_train` synthcity scenes of version `version` at size×size, drawn with `data_seed`."""

    version: int
    size: int
    n_train: int
    data_seed: int

    @property
    def num_outputs(self) -> int:
        return len(SYNTHCITY_CLASSES)

    def description(self) -> dict[str, Any]:
        """What a weights file records of this data."""
        return {
            "data": "synthcity",
            "synthcity_version": self.version,
            "size": self.size,
            "n_train": self.n_train,
            "data_seed": self.data_seed,
        }

    def read(self, progress: bool = True) -> SegmentationData:
        return synthcity_segmentation_data(self)


@dataclass(frozen=True)
class AlignedData:
    """An aligned A|B folder whose `labels_side` half is a colour map of `classes`' colours."""

    root: Path
    classes: ClassTable
    split: str = "train"
    labels_side: str = "B"
    size: int | None = None  # None: the pairs' height

    @property
    def num_outputs(self) -> int:
        return len(self.classes)

    def read(self, progress: bool = True) -> SegmentationData:
        return aligned_segmentation_data(
            self.root,
            self.classes,
            split=self.split,
            labels_side=self.labels_side,
            size=self.size,
            progress=progress,
        )


@dataclass(frozen=True)
class CityscapesData:
    """A Cityscapes split; `root` None: `$CITYSCAPES_DATASET`."""

    root: str | Path | None
    split: str = "train"
    size: int = CITYSCAPES_SIZE
    photo_resize: str = "bicubic"

    @property
    def num_outputs(self) -> int:
        return CITYSCAPES_OUTPUTS

    def read(self, progress: bool = True) -> SegmentationData:
        return cityscapes_segmentation_data(
            self.root,
            split=self.split,
            size=self.size,
            photo_resize=self.photo_resize,
            progress=progress,
        )


SegmenterData = SynthcityData | AlignedData | CityscapesData
"""Where a segmenter's training data comes from; `.read()` loads it."""


def check_size(size: int) -> None:
    """A training size the FCN-8s handles: a multiple of 8, at least 32."""
    if size < 32 or size % 8:
        raise InvalidValueError(f"size must be a multiple of 8 and at least 32, found {size}")


def is_cityscapes_root(path: str | Path) -> bool:
    p = Path(path)
    return (p / "leftImg8bit").is_dir() and (p / "gtFine").is_dir()


def synthcity_segmentation_data(data: SynthcityData) -> SegmentationData:
    """Real synthcity photos (uint8) and their class-index maps."""
    dataset = build_dataset(
        f"synthcity@v{data.version}",
        "train",
        size=data.size,
        direction="BtoA",
        seed=data.data_seed,
        data_root=None,
        n=data.n_train,
    )
    train_ids = [c.train_id for c in SYNTHCITY_CLASSES]
    lut = np.full(256, 255, dtype=np.int64)
    lut[train_ids] = np.arange(len(train_ids))
    n, size = data.n_train, data.size
    images = torch.empty(n, 3, size, size, dtype=torch.uint8)
    labels = torch.empty(n, size, size, dtype=torch.uint8)
    for i in range(n):
        sample = dataset[i]
        images[i] = quantize_uint8(sample.target)
        labels[i] = torch.from_numpy(lut[sample.label.numpy()])
    return SegmentationData(images, labels, None, data.description(), data.num_outputs)


def aligned_segmentation_data(
    root: str | Path,
    table: ClassTable,
    *,
    split: str = "train",
    labels_side: str = "B",
    size: int | None = None,
    progress: bool = True,
) -> SegmentationData:
    """Photos and class maps from an aligned folder whose `labels_side` half is a colour map.

    `size` None: the pairs' height (all pairs must share it). More than 5% of label pixels in
    no class colour is an error; the statistics come with the data (`label_stats`).
    """
    if labels_side not in ("A", "B"):
        raise InvalidValueError(f"labels side must be A or B, found {labels_side!r}")
    root = Path(root)
    if not root.is_dir():
        raise PathNotFoundError(f"data folder {root} does not exist")
    files = list_aligned(root, split)
    check_pairs(files, size)
    if size is None:
        with Image.open(files[0]) as im:
            size = im.height
        try:
            check_size(size)
        except ValueError:
            raise InvalidValueError(
                f"the pairs in {root / split} are {size} px high; give --size, a multiple of 8 "
                "and at least 32, to resize them to"
            ) from None
    check_size(size)
    stats = scan_colour_labels(files, labels_side, table)
    stats.check(f"the {labels_side} halves of {root / split} (labels side {labels_side})")
    dataset = AlignedDataset(
        root,
        split,
        "BtoA" if labels_side == "B" else "AtoB",  # input = the label half
        size,
        label_colours=table,
    )
    lut = torch.from_numpy(colour_lut(table.train_ids))
    n = len(dataset)
    images = torch.empty(n, 3, size, size, dtype=torch.uint8)
    labels = torch.empty(n, size, size, dtype=torch.uint8)
    bar = tqdm(range(n), disable=not progress, file=sys.stderr, desc="read", unit="img")
    for i in bar:
        sample = dataset[i]
        images[i] = quantize_uint8(sample.target)
        labels[i] = lut[sample.label]  # type: ignore[index]
    description = {
        "data": "aligned",
        "data_name": root.resolve().name,
        "split": split,
        "labels_side": labels_side,
        "size": size,
        "resize": {"photo": dataset.resize, "labels": "nearest"},
        "n_train": n,
        "data_files": len(files),
        "data_sha256": files_sha256(root, files),
        "data_hash_rule": DATA_HASH_RULE,
        "label_pixels": stats.pixels,
        "unknown_label_pixels": stats.unknown,
    }
    return SegmentationData(images, labels, table, description, len(table), stats)


def cityscapes_segmentation_data(
    root: str | Path | None,
    *,
    split: str = "train",
    size: int = CITYSCAPES_SIZE,
    photo_resize: str = "bicubic",
    progress: bool = True,
) -> SegmentationData:
    """Cityscapes photos (resized as `CityscapesDataset` does) and trainId maps (nearest).

    Labels come from `*_gtFine_labelTrainIds.png` where present, else from the labelIds with
    cityscapesScripts' table. The segmenter gets 20 outputs, the official network's shape
    (19 classes and the extra channel), so its weights also fit the pix2pix-2017 protocols'
    `--segmenter-weights`.
    """
    check_size(size)
    dataset = CityscapesDataset(root, split, size, "AtoB", load_labels=False)
    table = cityscapes_class_table()
    lut = torch.from_numpy(colour_lut(table.train_ids))
    id_lut = trainid_lut()
    flt = pil_filter(photo_resize)
    n = len(dataset.frames)
    images = torch.empty(n, 3, size, size, dtype=torch.uint8)
    labels = torch.empty(n, size, size, dtype=torch.uint8)
    used: list[Path] = []
    valid = np.zeros(256, dtype=bool)
    valid[[*table.train_ids, IGNORE_ID]] = True
    bar = tqdm(dataset.frames, disable=not progress, file=sys.stderr, desc="read", unit="img")
    for i, frame in enumerate(bar):
        try:
            with Image.open(frame.photo) as im:
                photo = im.convert("RGB")
        except (OSError, Image.DecompressionBombError) as e:
            raise FileAccessError(f"cannot read Cityscapes photo {frame.photo}: {e}") from e
        train_ids_path = frame.label_ids.with_name(f"{frame.sample_id}_gtFine_labelTrainIds.png")
        if train_ids_path.is_file():
            ids = read_label(train_ids_path)
            if not valid[ids].all():
                bad = sorted(set(np.unique(ids[~valid[ids]]).tolist()))
                raise InvalidValueError(
                    f"{train_ids_path} holds values {bad[:10]} that are not Cityscapes trainIds "
                    "(0..18, 255 = ignore)"
                )
            label_file = train_ids_path
        elif frame.label_ids.is_file():
            ids = labelids_to_trainids(read_label(frame.label_ids), id_lut).astype(np.uint8)
            label_file = frame.label_ids
        else:
            raise PathNotFoundError(
                f"no labels for Cityscapes frame {frame.sample_id}: expected {train_ids_path} "
                f"or {frame.label_ids}"
            )
        if ids.shape != (photo.height, photo.width):
            raise InvalidValueError(
                f"{label_file} is {ids.shape[1]}×{ids.shape[0]} (W×H) but its photo is "
                f"{photo.width}×{photo.height}"
            )
        small = photo.resize((size, size), flt)
        images[i] = torch.from_numpy(np.array(small, dtype=np.uint8)).permute(2, 0, 1)
        nearest = Image.fromarray(ids).resize((size, size), Image.Resampling.NEAREST)
        labels[i] = lut[torch.from_numpy(np.array(nearest, dtype=np.uint8)).long()]
        used += [frame.photo, label_file]
    description = {
        "data": "cityscapes",
        "data_name": dataset.root.resolve().name,
        "split": split,
        "size": size,
        "resize": {"photo": photo_resize, "labels": "nearest"},
        "n_train": n,
        "data_files": len(used),
        "data_sha256": files_sha256(dataset.root, used),
        "data_hash_rule": DATA_HASH_RULE,
    }
    return SegmentationData(images, labels, table, description, CITYSCAPES_OUTPUTS)
