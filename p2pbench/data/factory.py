"""Datasets by name or folder: synthcity, Cityscapes, written synthcity, aligned A|B folders."""

from __future__ import annotations

import os
from pathlib import Path

from p2pbench.data.aligned import AlignedDataset
from p2pbench.data.cityscapes import CityscapesDataset
from p2pbench.data.sample import PairedDataset, Transform
from p2pbench.data.synthcity import SynthCityDataset, read_manifest
from p2pbench.data.synthcity.dataset import parse_synthcity_name
from p2pbench.errors import InvalidValueError, PathNotFoundError

DATASET_NAMES = ("synthcity", "cityscapes")


def build_dataset(
    name_or_path: str | os.PathLike[str],
    split: str,
    *,
    size: int,
    direction: str | None,
    seed: int,
    data_root: str | None,
    n: int | None,
    transform: Transform | None = None,
    labels: bool = True,
    transform_seed: int | None = None,
) -> PairedDataset:
    """Resolve a dataset by name ("synthcity", "cityscapes") or by an aligned folder's path.

    Default direction: BtoA (labels → photo) for every dataset: synthcity, Cityscapes, written
    synthcity folders and aligned folders, whose B half holds the label maps in the pix2pix
    datasets (cityscapes, facades); pass AtoB where A is the input (edges2*, maps). `seed` is
    synthcity's content seed and every dataset's transform seed; `n` keeps the first n samples
    (synthcity: generates n); a `data_root` is only meaningful for Cityscapes. `labels=False`
    skips label maps (training: Cityscapes labels stay at 1024×2048 and cannot follow the
    jitter). `transform_seed`, when
    given, seeds the transform instead of `seed` (a training seed apart from the data's).
    """
    name = str(name_or_path)
    t_seed = seed if transform_seed is None else transform_seed
    if data_root is not None and name != "cityscapes":
        raise InvalidValueError(
            f"a data root ({data_root}) applies to cityscapes only, not {name!r}"
        )
    version = parse_synthcity_name(name)
    if version is not None:
        return SynthCityDataset(
            size=size,
            split=split,
            n=n,
            seed=seed,
            direction=direction or "BtoA",
            transform=transform,
            transform_seed=t_seed,
            load_labels=labels,
            version=version,
        )
    if name == "cityscapes":
        return CityscapesDataset(
            data_root,
            split,
            size,
            direction or "BtoA",
            transform,
            n=n,
            transform_seed=t_seed,
            load_labels=labels,
        )
    path = Path(name)
    if path.is_dir():
        if (path / "synthcity.json").is_file():
            return _written_synthcity(path, split, size, direction, t_seed, n, transform, labels)
        return AlignedDataset(
            path,
            split,
            direction or "BtoA",
            size,
            transform,
            n=n,
            transform_seed=t_seed,
            load_labels=labels,
        )
    raise InvalidValueError(
        f"unknown dataset {name!r}: expected one of {', '.join(DATASET_NAMES)} or "
        "an existing folder in the pix2pix aligned format (root/<split>/*.png)"
    )


def _written_synthcity(
    path: Path,
    split: str,
    size: int,
    direction: str | None,
    seed: int,
    n: int | None,
    transform: Transform | None,
    labels: bool,
) -> AlignedDataset:
    manifest = read_manifest(path)
    if manifest["size"] != size:
        raise InvalidValueError(
            f"{path} holds synthcity at {manifest['size']} px but size {size} was "
            f"asked; regenerate it with --size {size} or use 'synthcity' on the fly"
        )
    expected = manifest["counts"].get(split)
    if expected is None:
        raise PathNotFoundError(
            f"{path} has no split {split!r}; it has {sorted(manifest['counts'])}"
        )
    ds = AlignedDataset(
        path,
        split,
        direction or "BtoA",
        None,
        transform,
        n=n,
        transform_seed=seed,
        load_labels=labels,
    )
    found = len(list((path / split).glob("*.png")))
    if found != expected:
        raise InvalidValueError(
            f"{path / split} holds {found} pairs but its manifest lists {expected}; "
            "the folder was changed after writing: regenerate it"
        )
    return ds
