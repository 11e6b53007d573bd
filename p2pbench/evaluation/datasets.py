"""The dataset a protocol scores: its split, in its direction, labels at native size."""

from __future__ import annotations

from p2pbench.data import CityscapesDataset, PairedDataset, build_dataset
from p2pbench.protocols import Protocol


def protocol_dataset(protocol: Protocol, split: str | None, data_root: str | None) -> PairedDataset:
    """The samples `protocol` scores (`split` None: the protocol's), in the protocol's direction.

    `data_root` is where Cityscapes lies (else $CITYSCAPES_DATASET); aligned protocols carry
    their folder, synthcity needs none.
    """
    split = split or protocol.split
    direction = "BtoA" if protocol.task == "labels2photo" else "AtoB"
    if protocol.dataset == "aligned":
        return build_dataset(
            protocol.data_path,
            split,
            size=protocol.image_size,
            direction=protocol.direction,
            seed=0,
            data_root=None,
            n=None,
        )
    if protocol.dataset == "synthcity":
        n = protocol.expected_images if split == protocol.split else None
        return build_dataset(
            "synthcity",
            split,
            size=protocol.image_size,
            direction=direction,
            seed=protocol.dataset_seed,
            data_root=None,
            n=n,
        )
    if protocol.dataset == "cityscapes":
        return CityscapesDataset(
            data_root,
            split,
            protocol.image_size,
            direction,
            label_resize=protocol.label_resize,
            photo_resize=protocol.real_resize,
        )
    raise ValueError(
        f"protocol {protocol.name} uses dataset {protocol.dataset!r}; known: aligned, "
        "synthcity, cityscapes"
    )
