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
from tqdm import tqdm

from p2pbench.data import (
    Batch,
    CityscapesDataset,
    PairedDataset,
    build_dataset,
    collate_samples,
)
from p2pbench.distributed import gather_lists, rank_and_world, shard_range
from p2pbench.evaluation.evaluators import FCNScorer, GenerativeScorer, PairedScorer
from p2pbench.evaluation.sources import FolderSource, GeneratorSource, RealSource
from p2pbench.metrics.availability import require_available
from p2pbench.protocols import Protocol, aligned_protocol, get_protocol
from p2pbench.provenance import package_versions
from p2pbench.results import SCHEMA, SCHEMA_VERSION
from reference_models import generator_size, read_generator

SOURCES = ("generator", "images", "real")
METRIC_GROUPS = ("fcn", "paired", "inception")


@dataclass(frozen=True)
class EvalConfig:
    """One evaluation: what to score, under which protocol, and how to run it."""

    protocol: str
    source: str  # "generator", "images" or "real"
    path: str | None = None  # generator checkpoint or image folder
    data_root: str | None = None  # Cityscapes root, or the aligned folder (protocol "aligned")
    split: str | None = None  # None: the protocol's split
    limit: int | None = None
    batch_size: int = 8
    device: str = "cpu"
    seed: int = 0
    per_image: bool = False
    allow_missing: bool = False
    naming: str = "auto"  # image folders: auto, sample-id, original, port
    allow_partial_split: bool = False  # score a split with fewer frames than the protocol's
    metrics: tuple[str, ...] = METRIC_GROUPS  # those that apply are computed
    fid_mode: str = "tf"  # FID preprocessing: tf (torch-fidelity), pytorch-fid, clean
    inception_weights: str | None = None
    reference_stats: str | None = None  # a stats file or pytorch-fid .npz instead of the cache
    require: tuple[str, ...] = ()  # metrics that must be available (e.g. "fid")
    direction: str | None = None  # aligned folders: AtoB (default) or BtoA
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
        unknown = sorted(set(self.metrics) - set(METRIC_GROUPS))
        if unknown:
            raise ValueError(f"unknown metrics {unknown}; valid: {', '.join(METRIC_GROUPS)}")
        if self.naming not in NAMINGS:
            raise ValueError(f"unknown naming {self.naming!r}; valid: {', '.join(NAMINGS)}")


def protocol_dataset(protocol: Protocol, split: str | None, data_root: str | None) -> PairedDataset:
    """The dataset a protocol scores, in the protocol's direction, labels at native size."""
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
    protocol = resolve_protocol(config)
    device = torch.device(config.device)
    dataset = protocol_dataset(protocol, config.split, config.data_root)
    all_ids = list(dataset.sample_ids)  # type: ignore[attr-defined]
    partial = len(all_ids) != protocol.expected_images
    if (
        (config.split or protocol.split) == protocol.split
        and partial
        and not (config.allow_partial_split)
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

    scorers = _make_scorers(config, protocol, device, len(scored))
    rank, world = rank_and_world()
    shard = [scored[i] for i in shard_range(len(scored), rank, world)]
    digests: list[tuple[str, str]] = []
    bar = tqdm(
        total=len(shard),
        disable=not config.progress or rank != 0,
        file=sys.stderr,
        unit="img",
        desc=f"eval {protocol.key}",
    )
    for start in range(0, len(shard), config.batch_size):
        chunk = shard[start : start + config.batch_size]
        batch = collate_samples([dataset[index_of[s]] for s in chunk])
        images = source.images(batch)
        indices = [index_of[s] for s in chunk]
        for scorer in scorers.values():
            scorer.update(images, batch, indices)
        digests += [(sid, _sample_digest(batch, i)) for i, sid in enumerate(batch.sample_ids)]
        bar.update(len(batch))
    bar.close()

    metrics: dict[str, Any] = {}
    counts: dict[str, Any] = {}
    fcn = scorers.get("fcn")
    if isinstance(fcn, FCNScorer):
        metrics, counts = fcn.compute()
    for name in ("paired", "inception"):
        if name in scorers:
            metrics.update(scorers[name].compute())  # type: ignore[union-attr]
    if config.require:
        require_available(metrics, config.require)
    per_image = (
        gather_lists(fcn.per_image)
        if isinstance(fcn, FCNScorer) and (fcn.per_image is not None)
        else None
    )
    digests = gather_lists(digests)
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "protocol": {
            **protocol.as_dict(),
            "key": protocol.key,
            "digest": protocol.digest(),
            "split_used": config.split or protocol.split,
        },
        "task": protocol.task,
        "source": {**source.describe(), **({"path": config.path} if config.path else {})},
        "n_images": len(scored),
        "limit": config.limit,
        "missing": missing,
        "partial_split": partial,
        "metrics": metrics,
        "counts": counts,
        "per_image": per_image,
        "provenance": {
            "versions": package_versions(),
            "seed": config.seed,
            "world_size": world,
            "batch_size": config.batch_size,
            "device": str(device),
            "test_time_mode": protocol.test_time_mode,
            "data_sha256": hashlib.sha256("".join(d for _, d in digests).encode()).hexdigest(),
            **{name: scorer.describe() for name, scorer in scorers.items() if name != "fcn"},
            "segmenter": fcn.describe() if isinstance(fcn, FCNScorer) else None,
            "command": list(config.command),
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        },
    }


def resolve_protocol(config: EvalConfig) -> Protocol:
    """The registered protocol, or for `aligned` the one built from the folder in data_root."""
    if config.protocol != "aligned":
        return get_protocol(config.protocol)
    if config.data_root is None:
        raise ValueError("the aligned protocol needs the folder (eval --data DIR)")
    return aligned_protocol(config.data_root, config.split, config.direction)


def _make_scorers(
    config: EvalConfig, protocol: Protocol, device: torch.device, n_images: int
) -> dict[str, FCNScorer | PairedScorer | GenerativeScorer]:
    """The metric groups asked for that apply: FCN-score needs labels, paired metrics a
    generated image (the real photos equal their targets)."""
    wanted = set(config.metrics)
    scorers: dict[str, FCNScorer | PairedScorer | GenerativeScorer] = {}
    if "fcn" in wanted and protocol.task in ("labels2photo", "photo2labels"):
        scorers["fcn"] = FCNScorer(
            protocol, device, per_image=config.per_image, segmenter_weights=config.segmenter_weights
        )
    if "paired" in wanted and config.source != "real":
        scorers["paired"] = PairedScorer(device)
    if "inception" in wanted and protocol.task != "photo2labels":
        scorers["inception"] = GenerativeScorer(
            protocol,
            device,
            mode=config.fid_mode,
            weights=config.inception_weights,
            reference=config.reference_stats,
            n_images=n_images,
            limit=config.limit,
        )
    if not scorers:
        raise ValueError(
            f"none of the metrics {sorted(wanted)} applies to {protocol.key} with "
            f"source {config.source}"
        )
    return scorers


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


def _sample_digest(batch: Batch, i: int) -> str:
    """sha256 of what a sample feeds the evaluation: its input and, if any, its label map."""
    h = hashlib.sha256()
    h.update(batch.input[i].numpy().tobytes())
    if batch.label is not None:
        h.update(batch.label[i].numpy().astype(np.int64).tobytes())
    return h.hexdigest()
