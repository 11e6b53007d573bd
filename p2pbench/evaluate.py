"""The evaluation loop: a protocol, a source of images → FCN-score → a result with provenance.

Batches stream through: source images (uint8) → the label resolution, as the protocol says →
the segmenter → the FCN-score metric's confusion matrix. Nothing holds the dataset in memory.
With several processes, each rank takes a contiguous shard (no padding) and the metric's sum
states are reduced by torchmetrics; test-time randomness is seeded per sample id, so results
depend neither on the batch size nor on the number of processes.
"""

from __future__ import annotations

import datetime
import hashlib
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from p2pbench.data import CityscapesDataset, PairedDataset, build_dataset, collate_samples
from p2pbench.distributed import gather_lists, rank_and_world, shard_range
from p2pbench.metrics.fcn_score import FCNScore, per_image_scores
from p2pbench.protocols import Protocol, get_protocol
from p2pbench.provenance import package_versions
from p2pbench.results import SCHEMA, SCHEMA_VERSION
from p2pbench.segmenters import LoadedSegmenter, load_segmenter
from p2pbench.sources import FolderSource, GeneratorSource, RealSource
from reference_models import generator_size, read_generator

SOURCES = ("generator", "images", "real")


@dataclass(frozen=True)
class EvalConfig:
    """One evaluation: what to score, under which protocol, and how to run it."""

    protocol: str
    source: str  # "generator", "images" or "real"
    path: str | None = None  # generator checkpoint or image folder
    data_root: str | None = None
    split: str | None = None  # None: the protocol's split
    limit: int | None = None
    batch_size: int = 8
    device: str = "cpu"
    seed: int = 0
    per_image: bool = False
    allow_missing: bool = False
    naming: str = "auto"  # image folders: auto, sample-id, original, port
    allow_partial_split: bool = False  # score a split with fewer frames than the protocol's
    dropout: bool | None = None  # PyTorch-port U-Net files only (they do not record it)
    segmenter_weights: str | None = None
    progress: bool = True
    command: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"unknown source {self.source!r}; valid: {', '.join(SOURCES)}")
        if (self.source == "real") != (self.path is None):
            raise ValueError("give a checkpoint or an image folder, or score the real images")
        if self.limit is not None and self.limit < 1:
            raise ValueError("--limit must be at least 1")
        if self.batch_size < 1:
            raise ValueError("--batch-size must be at least 1")
        if self.naming not in NAMINGS:
            raise ValueError(f"unknown naming {self.naming!r}; valid: {', '.join(NAMINGS)}")


def protocol_dataset(protocol: Protocol, split: str | None, data_root: str | None) -> PairedDataset:
    """The dataset a protocol scores, in the protocol's direction, labels at native size."""
    split = split or protocol.split
    direction = "BtoA" if protocol.task == "labels2photo" else "AtoB"
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
        f"protocol {protocol.name} uses dataset {protocol.dataset!r}, which the "
        "evaluation loop does not know"
    )


NAMINGS = ("auto", "sample-id", "original", "port")


def image_names(
    protocol: Protocol, dataset: PairedDataset, ids: Sequence[str], naming: str
) -> dict[str, str]:
    """File name of each sample's generated image under a naming scheme.

    sample-id: `<id>.png` (synthcity, and what `p2pbench generate` writes elsewhere);
    original: `<city>_<seq>_<frame>_leftImg8bit.png`, what the pix2pix FCN-score script reads;
    port: `<n>_fake_B.png`, the PyTorch port's test output, n = the frame's index in
    `sorted(glob(gtFine/<split>/*/*_color.png))`.
    """
    if naming == "sample-id":
        return {sid: f"{sid}.png" for sid in ids}
    if protocol.dataset != "cityscapes":
        raise ValueError(
            f"naming {naming!r} applies to Cityscapes; {protocol.dataset} images "
            "are named <sample id>.png"
        )
    if naming == "original":
        return {sid: f"{sid}_leftImg8bit.png" for sid in ids}
    if naming == "port":
        index = dataset.frame_index  # type: ignore[attr-defined]
        return {sid: f"{index[sid]}_fake_B.png" for sid in ids}
    raise ValueError(f"unknown naming {naming!r}; valid: {', '.join(NAMINGS)}")


def detect_naming(protocol: Protocol, folder: Path) -> str:
    """The naming of an image folder: the port's `*_fake_B.png`, else the original script's."""
    if protocol.dataset != "cityscapes":
        return "sample-id"
    if folder.is_dir() and any(folder.glob("*_fake_B.png")):
        return "port"
    return "original"


def evaluate(config: EvalConfig) -> dict[str, Any]:
    """Run one evaluation and return the result (see p2pbench.results for the schema)."""
    protocol = get_protocol(config.protocol)
    device = torch.device(config.device)
    dataset = protocol_dataset(protocol, config.split, config.data_root)
    all_ids = list(dataset.sample_ids)  # type: ignore[attr-defined]
    if (
        (config.split or protocol.split) == protocol.split
        and len(all_ids) != (protocol.expected_images)
        and not config.allow_partial_split
    ):
        raise ValueError(
            f"protocol {protocol.key} scores all {protocol.expected_images} {protocol.split} "
            f"images, but the dataset has {len(all_ids)}: is the download complete? "
            "(--allow-partial-split scores what is there, recorded in the result)"
        )
    if config.limit is not None and config.limit > len(all_ids):
        raise ValueError(f"--limit {config.limit} exceeds the {len(all_ids)} images of the split")
    ids = all_ids[: config.limit] if config.limit else all_ids
    index_of = {sid: i for i, sid in enumerate(all_ids)}

    source = _make_source(config, protocol, dataset, ids, device)
    missing: list[str] = []
    if isinstance(source, FolderSource):
        missing = source.check(config.allow_missing)
    skipped = set(missing)
    scored = [sid for sid in ids if sid not in skipped]
    if not scored:
        raise ValueError("no images to score")

    segmenter = (
        None
        if protocol.task == "photo2labels"
        else load_segmenter(protocol.segmenter, config.segmenter_weights, device)
    )
    metric = FCNScore(
        protocol.num_classes,
        protocol.class_names,
        ignore_index=protocol.ignore_index,
        extra_channel=protocol.extra_channel,
    ).to(device)
    lut = _label_lut(protocol).to(device)
    rank, world = rank_and_world()
    shard = [scored[i] for i in shard_range(len(scored), rank, world)]
    per_image: list[dict[str, Any]] = []
    digests: list[tuple[str, str]] = []
    bar = tqdm(
        total=len(shard),
        disable=not config.progress or rank != 0,
        file=sys.stderr,
        unit="img",
        desc=f"eval {protocol.key}",
    )
    for start in range(0, len(shard), config.batch_size):
        batch = collate_samples(
            [dataset[index_of[s]] for s in shard[start : start + config.batch_size]]
        )
        images = source.images(batch)
        labels = lut[_protocol_labels(batch.label, protocol).to(device)]
        pred = _predict(segmenter, images, protocol, tuple(labels.shape[-2:]))
        metric.update(pred, labels)
        if config.per_image:
            scores_list = per_image_scores(
                pred, labels, protocol.num_classes, protocol.extra_channel, protocol.ignore_index
            )
            for sid, scores in zip(batch.sample_ids, scores_list, strict=True):
                per_image.append({"sample_id": sid, **scores})
        digests += [
            (sid, _sample_digest(batch.input[i], batch.label[i]))  # type: ignore[index]
            for i, sid in enumerate(batch.sample_ids)
        ]
        bar.update(len(batch))
    bar.close()

    scores = metric.compute()
    digests = gather_lists(digests)
    per_image = gather_lists(per_image) if config.per_image else []
    counts = {
        k: v
        for k, v in scores.items()
        if k not in ("per_pixel_acc", "per_class_acc", "class_iou", "per_class")
    }
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "protocol": {
            **protocol.as_dict(),
            "key": protocol.key,
            "digest": protocol.digest(),
            "split_used": config.split or protocol.split,
        },
        "task": "labels2photo",
        "source": {**source.describe(), **({"path": config.path} if config.path else {})},
        "n_images": len(scored),
        "limit": config.limit,
        "missing": missing,
        "partial_split": len(all_ids) != protocol.expected_images,
        "metrics": {
            k: scores[k] for k in ("per_pixel_acc", "per_class_acc", "class_iou", "per_class")
        },
        "counts": counts,
        "per_image": per_image if config.per_image else None,
        "provenance": {
            "versions": package_versions(),
            "seed": config.seed,
            "world_size": world,
            "batch_size": config.batch_size,
            "device": str(device),
            "test_time_mode": protocol.test_time_mode,
            "data_sha256": hashlib.sha256("".join(d for _, d in digests).encode()).hexdigest(),
            "segmenter": segmenter.describe() if segmenter else {"name": protocol.segmenter},
            "command": list(config.command),
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        },
    }


def _make_source(
    config: EvalConfig,
    protocol: Protocol,
    dataset: PairedDataset,
    ids: Sequence[str],
    device: torch.device,
) -> GeneratorSource | FolderSource | RealSource:
    if config.source == "real":
        return RealSource(protocol.real_resize)
    assert config.path is not None
    if config.source == "images":
        folder = Path(config.path)
        naming = detect_naming(protocol, folder) if config.naming == "auto" else config.naming
        return FolderSource(
            folder, image_names(protocol, dataset, ids, naming), protocol.image_size, naming=naming
        )
    loaded = read_generator(config.path, dropout=config.dropout)
    size = generator_size(loaded.name)
    if loaded.name.startswith(("unet", "encdec")) and size != protocol.image_size:
        raise ValueError(
            f"{config.path} holds {loaded.name}, built for {size}×{size} images, "
            f"but protocol {protocol.key} feeds {protocol.image_size}×"
            f"{protocol.image_size}"
        )
    return GeneratorSource(loaded, protocol.test_time_mode, config.seed, device)


def _label_lut(protocol: Protocol) -> torch.Tensor:
    """trainId → protocol class index (everything else → ignore)."""
    lut = torch.full((256,), protocol.ignore_index, dtype=torch.int64)
    lut[list(protocol.class_train_ids)] = torch.arange(protocol.num_classes)
    return lut


PIL_FILTERS = {"pil-bilinear": Image.Resampling.BILINEAR, "pil-nearest": Image.Resampling.NEAREST}


def resize_uint8(images: torch.Tensor, size: tuple[int, int], method: str) -> torch.Tensor:
    """uint8 N×C×h×w (or N×h×w) → H×W with PIL's filter `method`, one image at a time.

    PIL on uint8 is what the original evaluation did (scipy.misc.imresize). PIL sizes are
    (W, H): the swap is made here, once.
    """
    if tuple(images.shape[-2:]) == size:
        return images
    if method not in PIL_FILTERS:
        raise ValueError(
            f"images are {tuple(images.shape[-2:])} but must be {size}, and the "
            f"protocol's resize is {method!r}"
        )
    height, width = size
    out = []
    for im in images.cpu():
        array = im.permute(1, 2, 0).numpy() if im.ndim == 3 else im.numpy()
        out.append(np.asarray(Image.fromarray(array).resize((width, height), PIL_FILTERS[method])))
    stacked = torch.from_numpy(np.stack(out))
    return stacked.permute(0, 3, 1, 2).contiguous() if images.ndim == 4 else stacked


def _protocol_labels(label: torch.Tensor | None, protocol: Protocol) -> torch.Tensor:
    """trainIds at the protocol's label resolution (native unless label_size is set)."""
    if label is None:
        raise ValueError(f"protocol {protocol.key} needs label maps, and the dataset has none")
    if protocol.label_size is None:
        return label
    small = resize_uint8(label.to(torch.uint8), protocol.label_size, protocol.label_downsample)
    return small.to(torch.int64)


def _predict(
    segmenter: LoadedSegmenter | None,
    images: torch.Tensor,
    protocol: Protocol,
    label_size: tuple[int, int],
) -> torch.Tensor:
    """Class-index map per image at label resolution (channel n = the extra channel)."""
    if protocol.task == "photo2labels":
        classes = nearest_colour_classes(images, protocol)
        return (
            resize_uint8(classes.to(torch.uint8), label_size, protocol.score_resize)
            .to(torch.int64)
            .to(images.device)
        )
    from fcn.fcn8s import predict

    assert segmenter is not None
    device = next(segmenter.module.parameters()).device
    full = resize_uint8(images, label_size, protocol.score_resize)
    return predict(segmenter.module, full.to(device))


def nearest_colour_classes(images: torch.Tensor, protocol: Protocol) -> torch.Tensor:
    """Each pixel's class: the nearest class colour (squared RGB distance; ties → lower index)."""
    palette = torch.tensor(class_colours(protocol), dtype=torch.int64)  # C×3
    x = images.to(torch.int64).permute(0, 2, 3, 1).unsqueeze(-2)  # N×H×W×1×3
    distance = ((x - palette) ** 2).sum(-1)  # N×H×W×C
    return distance.argmin(-1)  # argmin returns the first minimum


def class_colours(protocol: Protocol) -> list[tuple[int, int, int]]:
    """The official colour of each scored class (cityscapesScripts' label table)."""
    from cityscapesscripts.helpers.labels import trainId2label

    return [tuple(trainId2label[t].color) for t in protocol.class_train_ids]


def _sample_digest(image: torch.Tensor, label: torch.Tensor) -> str:
    h = hashlib.sha256()
    h.update(image.numpy().tobytes())
    h.update(label.numpy().astype(np.int64).tobytes())
    return h.hexdigest()
