"""The dataset a protocol scores: its split, in its direction, labels at native size."""

from __future__ import annotations

from p2pbench.data import (
    AlignedDataset,
    CityscapesDataset,
    ClassEntry,
    ClassTable,
    PairedDataset,
    build_dataset,
    scan_colour_labels,
)
from p2pbench.distributed import warn
from p2pbench.errors import InvalidValueError
from p2pbench.protocols import Protocol


def protocol_dataset(protocol: Protocol, split: str | None, data_root: str | None) -> PairedDataset:
    """The samples `protocol` scores (`split` None: the protocol's), in the protocol's direction.

    `data_root` is where Cityscapes lies (else $CITYSCAPES_DATASET); aligned protocols carry
    their folder, synthcity needs none.
    """
    split = split or protocol.split
    direction = "BtoA" if protocol.task == "labels2photo" else "AtoB"
    if protocol.dataset == "aligned" and protocol.class_colours:
        return colour_labelled_dataset(protocol, split)
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
            f"synthcity@v{protocol.dataset_version}",
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
    raise InvalidValueError(
        f"protocol {protocol.name} uses dataset {protocol.dataset!r}; known: aligned, "
        "synthcity, cityscapes"
    )


def protocol_class_table(protocol: Protocol) -> ClassTable:
    """The class table of a protocol whose labels are decoded from colours."""
    return ClassTable(
        tuple(
            ClassEntry(name, train_id, colour)
            for name, train_id, colour in zip(
                protocol.class_names, protocol.class_train_ids, protocol.class_colours, strict=True
            )
        )
    )


def colour_labelled_dataset(protocol: Protocol, split: str) -> AlignedDataset:
    """An aligned folder whose labels are its input halves decoded by the protocol's colours.

    Every label half is read and checked before any work: more than 5% of pixels in no class
    colour means the wrong half, table or folder (or JPEG label maps), an error.
    """
    table = protocol_class_table(protocol)
    dataset = AlignedDataset(
        protocol.data_path,
        split,
        protocol.direction,
        protocol.image_size,
        label_colours=table,
    )
    side = "A" if protocol.direction == "AtoB" else "B"
    stats = scan_colour_labels(dataset.files, side, table)
    stats.check(f"{protocol.key}: the {side} halves of {dataset.root / split}")
    if stats.unknown:
        warn(f"{dataset.root / split}: {stats.summary()}")
    return dataset
