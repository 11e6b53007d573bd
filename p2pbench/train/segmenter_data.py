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
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from tqdm import tqdm

from fcn.fcn8s import FCN8sArch
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
from p2pbench.train.segmenter import BatchFn, save_trained, train_segmenter

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
        raise ValueError(f"size must be a multiple of 8 and at least 32, found {size}")


def check_training_options(steps: int, batch_size: int, lr: float) -> None:
    for name, value in (("steps", steps), ("batch size", batch_size)):
        if value < 1:
            raise ValueError(f"{name} must be at least 1, found {value}")
    if not lr > 0:
        raise ValueError(f"learning rate must be positive, found {lr}")


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
        raise ValueError(f"labels side must be A or B, found {labels_side!r}")
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"data folder {root} does not exist")
    files = list_aligned(root, split)
    check_pairs(files, size)
    if size is None:
        with Image.open(files[0]) as im:
            size = im.height
        try:
            check_size(size)
        except ValueError:
            raise ValueError(
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
        except OSError as e:
            raise OSError(f"cannot read Cityscapes photo {frame.photo}: {e}") from e
        train_ids_path = frame.label_ids.with_name(f"{frame.sample_id}_gtFine_labelTrainIds.png")
        if train_ids_path.is_file():
            ids = read_label(train_ids_path)
            if not valid[ids].all():
                bad = sorted(set(np.unique(ids[~valid[ids]]).tolist()))
                raise ValueError(
                    f"{train_ids_path} holds values {bad[:10]} that are not Cityscapes trainIds "
                    "(0..18, 255 = ignore)"
                )
            label_file = train_ids_path
        elif frame.label_ids.is_file():
            ids = labelids_to_trainids(read_label(frame.label_ids), id_lut).astype(np.uint8)
            label_file = frame.label_ids
        else:
            raise FileNotFoundError(
                f"no labels for Cityscapes frame {frame.sample_id}: expected {train_ids_path} "
                f"or {frame.label_ids}"
            )
        if ids.shape != (photo.height, photo.width):
            raise ValueError(
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
            raise ValueError("give a width divisor or channels, not both")
        if len(channels) != 6:
            raise ValueError(
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
        raise ValueError(
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


RECIPES: dict[str, dict[str, Any]] = {
    "fcn8s-synthcity64": {
        "data": "synthcity",
        "synthcity_version": 1,
        "size": 64,
        "n_train": 1000,
        "data_seed": 1,
        "steps": 600,
        "batch_size": 16,
        "lr": 1e-3,
        "seed": 0,
    },
    "fcn8s-synthcity128": {
        "data": "synthcity",
        "synthcity_version": 2,
        "size": 128,
        "n_train": 2000,
        "data_seed": 1,
        "steps": 1500,
        "batch_size": 16,
        "lr": 1e-3,
        "seed": 0,
    },
}
"""How each shipped synthcity segmenter was trained (`p2pbench fcn train` replays it)."""
SYNTHCITY64_RECIPE = RECIPES["fcn8s-synthcity64"]


def synthcity_batches(
    size: int,
    n: int,
    data_seed: int,
    batch_size: int,
    seed: int,
    class_train_ids: Sequence[int],
    version: int,
) -> BatchFn:
    """Seeded batches of real synthcity photos (uint8) and class-index maps, with flips."""
    data = build_dataset(
        f"synthcity@v{version}",
        "train",
        size=size,
        direction="BtoA",
        seed=data_seed,
        data_root=None,
        n=n,
    )
    lut = np.full(256, 255, dtype=np.int64)
    lut[list(class_train_ids)] = np.arange(len(class_train_ids))
    images = torch.empty(n, 3, size, size, dtype=torch.uint8)
    labels = torch.empty(n, size, size, dtype=torch.int64)
    for i in range(n):
        sample = data[i]
        images[i] = quantize_uint8(sample.target)
        labels[i] = torch.from_numpy(lut[sample.label.numpy()])
    return sampled_batches(images, labels, batch_size, seed)


def sampled_batches(images: Tensor, labels: Tensor, batch_size: int, seed: int) -> BatchFn:
    """Seeded batches of `images` (uint8 N×3×H×W) and `labels` (N×H×W class indices, any
    integer dtype, 255 = ignore) drawn with replacement, each flipped with probability 1/2."""
    n = len(images)

    def batch(step: int) -> tuple[Tensor, Tensor]:
        g = torch.Generator().manual_seed(seed * 1_000_003 + step)
        idx = torch.randint(n, (batch_size,), generator=g)
        flip = torch.rand(batch_size, generator=g) < 0.5
        x, y = images[idx].clone(), labels[idx].to(torch.int64, copy=True)
        x[flip] = x[flip].flip(-1)
        y[flip] = y[flip].flip(-1)
        return x, y

    return batch


def train_synthcity_segmenter(
    name: str,
    arch: FCN8sArch,
    recipe: dict[str, Any],
    out: str | Path,
    *,
    device: str = "cpu",
    progress: bool = True,
) -> Path:
    """Train the synthcity segmenter `name` (of `arch`) by `recipe` and write it to `out`."""
    if recipe["data"] != "synthcity":
        raise ValueError(f"{name} is trained on synthcity, not {recipe['data']!r}")
    batches = synthcity_batches(
        recipe["size"],
        recipe["n_train"],
        recipe["data_seed"],
        recipe["batch_size"],
        recipe["seed"],
        [c.train_id for c in SYNTHCITY_CLASSES],
        recipe["synthcity_version"],
    )
    model, losses = train_segmenter(
        arch,
        batches,
        steps=recipe["steps"],
        lr=recipe["lr"],
        seed=recipe["seed"],
        device=device,
        progress=progress,
    )
    provenance = {
        **recipe,
        "segmenter": name,
        "final_loss": sum(losses[-20:]) / len(losses[-20:]),
    }
    save_trained(out, model.cpu(), provenance)
    return Path(out)
