"""Segmenters for users' own data: `p2pbench fcn train --data DIR`.

Two layouts of training data, both read whole into memory (uint8) and checked before any
training:

- an aligned pix2pix folder (`DIR/<split>/*.png`, A|B side by side) with a class table
  (`p2pbench.data.colour_labels`): the label side is decoded by exact colour match, any other
  colour ignored and counted (more than 5% is refused); the photo side is the image;
- Cityscapes (`leftImg8bit/` and `gtFine/`): photos with `*_gtFine_labelTrainIds.png` (else the
  labelIds turned into trainIds with cityscapesScripts' table), 19 classes.

Photos are resized to size×size as the datasets do (bicubic), labels with nearest neighbour.
The weights file records the recipe, the data folder's name, a sha256 over the training files
(`p2pbench.base.files_sha256`) and the class table, so `p2pbench.protocols.user_fcn_protocol`
builds an FCN-score protocol from the file alone.
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

from fcn.fcn8s import FCN8sArch
from fcn.train import save_trained, train_segmenter
from p2pbench.base import files_sha256
from p2pbench.data import (
    AlignedDataset,
    CityscapesDataset,
    ClassTable,
    ColourStats,
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
from p2pbench.evaluation.segmenters import sampled_batches

DATA_HASH_RULE = (
    "sha256 over the training files sorted by relative path: '<relative path>\\0<sha256 of "
    "the file>\\n' each"
)
USER_DEFAULTS: dict[str, Any] = {"steps": 2000, "batch_size": 8, "lr": 1e-3, "seed": 0}
"""Training defaults for users' data (Adam, cosine schedule, random flips)."""
CITYSCAPES_SIZE = 256
CITYSCAPES_OUTPUTS = 20
"""19 classes and the extra channel: the official network's shape (fits pix2pix-2017's
`--segmenter-weights`)."""


@dataclass(frozen=True)
class SegmentationData:
    """Training images and class-index maps in memory, and what they are (for the recipe)."""

    images: Tensor  # uint8 N×3×S×S RGB
    labels: Tensor  # uint8 N×S×S class indices, 255 = ignore
    table: ClassTable
    description: dict[str, Any]  # data, data_name, split, size, n_train, data_sha256, ...
    num_outputs: int  # output channels of the segmenter to train


def check_size(size: int) -> None:
    """A training size the FCN-8s handles: a multiple of 8, at least 32."""
    if size < 32 or size % 8:
        raise InvalidValueError(f"size must be a multiple of 8 and at least 32, found {size}")


def check_training_options(steps: int, batch_size: int, lr: float) -> None:
    for name, value in (("steps", steps), ("batch size", batch_size)):
        if value < 1:
            raise InvalidValueError(f"{name} must be at least 1, found {value}")
    if not lr > 0:
        raise InvalidValueError(f"learning rate must be positive, found {lr}")


def is_cityscapes_root(path: str | Path) -> bool:
    p = Path(path)
    return (p / "leftImg8bit").is_dir() and (p / "gtFine").is_dir()


def aligned_segmentation_data(
    root: str | Path,
    table: ClassTable,
    *,
    split: str = "train",
    labels_side: str = "B",
    size: int | None = None,
    progress: bool = True,
) -> tuple[SegmentationData, ColourStats]:
    """Photos and class maps from an aligned folder whose `labels_side` half is a colour map.

    `size` None: the pairs' height (all pairs must share it). More than 5% of label pixels in
    no class colour is an error; the statistics are returned so a caller can report them.
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
    return SegmentationData(images, labels, table, description, len(table)), stats


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


def user_arch(
    num_outputs: int, width_divisor: int | None = None, channels: tuple[int, ...] | None = None
) -> tuple[FCN8sArch, dict[str, Any]]:
    """The FCN-8s to train and how it was chosen (for the recipe): the official widths
    divided by `width_divisor`, or five block widths and the fc width (`channels`)."""
    if channels is not None:
        if width_divisor is not None:
            raise InvalidValueError("give a width divisor or channels, not both")
        if len(channels) != 6:
            raise InvalidValueError(
                "channels are six widths: the five VGG blocks and fc6/fc7, e.g. "
                f"8,16,32,64,64,128; found {len(channels)}"
            )
        arch = FCN8sArch(num_outputs, tuple(channels[:5]), channels[5])  # type: ignore[arg-type]
        return arch, {"channels": list(channels)}
    divisor = 8 if width_divisor is None else width_divisor
    return FCN8sArch.narrow(divisor, num_outputs), {"width_divisor": divisor}


def train_user_segmenter(
    data: SegmentationData,
    arch: FCN8sArch,
    out: str | Path,
    *,
    steps: int,
    batch_size: int,
    lr: float,
    seed: int,
    arch_choice: dict[str, Any] | None = None,
    device: str = "cpu",
    progress: bool = True,
) -> Path:
    """Train an FCN-8s of `arch` on `data` and write it, with its recipe, to `out`."""
    check_training_options(steps, batch_size, lr)
    if arch.num_classes != data.num_outputs:
        raise InvalidValueError(
            f"the data needs {data.num_outputs} output channels; the architecture has "
            f"{arch.num_classes}"
        )
    batches = sampled_batches(data.images, data.labels, batch_size, seed)
    model, losses = train_segmenter(
        arch, batches, steps=steps, lr=lr, seed=seed, device=device, progress=progress
    )
    tail = losses[-20:]
    recipe = {
        **data.description,
        "classes": data.table.as_dict()["classes"],
        **(arch_choice or {}),
        "steps": steps,
        "batch_size": batch_size,
        "lr": lr,
        "seed": seed,
        "augmentation": "horizontal flip, p = 0.5",
        "final_loss": sum(tail) / len(tail),
    }
    save_trained(out, model.cpu(), recipe)
    return Path(out)
