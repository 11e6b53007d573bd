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

from p2pbench.data import PairedDataset, build_dataset, collate_samples
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


def protocol_dataset(protocol: Protocol, split: str | None, data_root: str | None) -> PairedDataset:
    """The dataset a protocol scores, labels→photo, labels at the protocol's resolution."""
    split = split or protocol.split
    if protocol.dataset == "synthcity":
        n = protocol.expected_images if split == protocol.split else None
        return build_dataset(
            "synthcity",
            split,
            size=protocol.image_size,
            direction="BtoA",
            seed=protocol.dataset_seed,
            data_root=None,
            n=n,
        )
    raise ValueError(
        f"protocol {protocol.name} uses dataset {protocol.dataset!r}, which the "
        "evaluation loop does not know"
    )


def image_names(protocol: Protocol, dataset: PairedDataset, ids: Sequence[str]) -> dict[str, str]:
    """File name of each sample's generated image, as `p2pbench generate` writes them."""
    return {sid: f"{sid}.png" for sid in ids}


def evaluate(config: EvalConfig) -> dict[str, Any]:
    """Run one evaluation and return the result (see p2pbench.results for the schema)."""
    protocol = get_protocol(config.protocol)
    device = torch.device(config.device)
    dataset = protocol_dataset(protocol, config.split, config.data_root)
    all_ids = list(dataset.sample_ids)  # type: ignore[attr-defined]
    if config.limit is not None and config.limit > len(all_ids):
        raise ValueError(f"--limit {config.limit} exceeds the {len(all_ids)} images of the split")
    ids = all_ids[: config.limit] if config.limit else all_ids
    index_of = {sid: i for i, sid in enumerate(all_ids)}

    source = _make_source(config, protocol, dataset, ids, device)
    missing: list[str] = []
    if isinstance(source, FolderSource):
        missing = source.check(config.allow_missing)
    scored = [sid for sid in ids if sid not in set(missing)]
    if not scored:
        raise ValueError("no images to score")

    segmenter = load_segmenter(protocol.segmenter, config.segmenter_weights, device)
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
        labels = lut[batch.label.to(device)]  # type: ignore[union-attr]
        pred = _segment(segmenter, images, protocol, tuple(labels.shape[-2:]))
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
            "segmenter": {
                "name": segmenter.name,
                "weights": segmenter.weights_path,
                "sha256": segmenter.weights_sha256,
            },
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
        return FolderSource(
            Path(config.path),
            image_names(protocol, dataset, ids),
            protocol.image_size,
            naming="sample-id",
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


def to_label_resolution(images: torch.Tensor, size: tuple[int, int], method: str) -> torch.Tensor:
    """uint8 N×3×h×w → N×3×H×W by the protocol's rule (PIL bilinear on uint8, or none)."""
    if tuple(images.shape[-2:]) == size:
        return images
    if method != "pil-bilinear":
        raise ValueError(
            f"images are {tuple(images.shape[-2:])} but labels {size}, and the "
            f"protocol's score_resize is {method!r}"
        )
    height, width = size
    out = [
        np.asarray(
            Image.fromarray(im.permute(1, 2, 0).cpu().numpy()).resize(
                (width, height), Image.Resampling.BILINEAR
            )
        )
        for im in images
    ]  # PIL takes (W, H)
    return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).contiguous()


def _segment(
    segmenter: LoadedSegmenter,
    images: torch.Tensor,
    protocol: Protocol,
    label_size: tuple[int, int],
) -> torch.Tensor:
    from fcn.fcn8s import predict

    device = next(segmenter.module.parameters()).device
    full = to_label_resolution(images, label_size, protocol.score_resize)
    return predict(segmenter.module, full.to(device))


def _sample_digest(image: torch.Tensor, label: torch.Tensor) -> str:
    h = hashlib.sha256()
    h.update(image.numpy().tobytes())
    h.update(label.numpy().astype(np.int64).tobytes())
    return h.hexdigest()
