"""`generate`: write a generator's outputs on a protocol's split as PNG files.

Outputs are produced exactly as `evaluate` produces them (same dataset, test-time mode, seeds
and uint8 rule) and written losslessly, so `eval --images DIR` on the folder gives the same
numbers as `eval --gen CKPT`. Each PNG is written atomically; a manifest (`generate.json`)
records what produced the folder.
"""

from __future__ import annotations

import datetime
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch import nn
from tqdm import tqdm

from p2pbench.base import atomic_path, atomic_write_text
from p2pbench.data import PairedDataset, collate_samples
from p2pbench.distributed import rank_and_world, shard_range
from p2pbench.evaluation.datasets import protocol_dataset
from p2pbench.evaluation.sources import (
    GeneratorFile,
    GeneratorModule,
    ImageStream,
    as_source,
    image_names,
    open_source,
    protocol_for,
)
from p2pbench.evaluation.spec import RunSpec
from p2pbench.protocols import Protocol, get_protocol
from p2pbench.provenance import package_versions

MANIFEST = "generate.json"


def generate(
    generator: GeneratorFile | GeneratorModule | nn.Module | str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    protocol: str | Protocol = "synthcity",
    data_root: str | None = None,
    split: str | None = None,
    limit: int | None = None,
    run: RunSpec = RunSpec(),
) -> dict[str, Any]:
    """Write one PNG per sample of the protocol's split (or the first `limit`) into `out_dir`;
    returns the manifest."""
    source = as_source(generator)
    if not isinstance(source, (GeneratorFile, GeneratorModule)):
        raise ValueError(f"generate needs a generator checkpoint or module, not {generator!r}")
    proto = protocol_for(source, get_protocol(protocol) if isinstance(protocol, str) else protocol)
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be at least 1, found {limit}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    dataset = protocol_dataset(proto, split, data_root)
    all_ids = list(dataset.sample_ids)  # type: ignore[attr-defined]
    ids = all_ids[:limit] if limit else all_ids
    naming = "original" if proto.dataset == "cityscapes" else "sample-id"
    names = image_names(proto, dataset, ids, naming)
    device = torch.device(run.device)
    stream = open_source(source, proto, dataset, ids, seed=run.seed, device=device)
    try:
        _write_images(dataset, all_ids, ids, names, stream, out, run)
    finally:
        stream.close()
    described = stream.describe()
    manifest = {
        "protocol": proto.key,
        "protocol_digest": proto.digest(),
        "split": split or proto.split,
        "n_images": len(ids),
        "limit": limit,
        "source": described,
        "checkpoint": described.get("path"),
        "seed": run.seed,
        "naming": naming,
        "versions": package_versions(),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    if rank_and_world()[0] == 0:
        atomic_write_text(out / MANIFEST, json.dumps(manifest, indent=2) + "\n")
    return manifest


def _write_images(
    dataset: PairedDataset,
    all_ids: Sequence[str],
    ids: Sequence[str],
    names: dict[str, str],
    stream: ImageStream,
    out: Path,
    run: RunSpec,
) -> None:
    """Write this rank's contiguous shard of `ids`, one atomic PNG each."""
    index_of = {sid: i for i, sid in enumerate(all_ids)}
    rank, world = rank_and_world()
    shard = [ids[i] for i in shard_range(len(ids), rank, world)]
    bar = tqdm(
        total=len(shard),
        disable=not run.progress or rank != 0,
        file=sys.stderr,
        unit="img",
        desc="generate",
    )
    with bar:
        for start in range(0, len(shard), run.batch_size):
            chunk = shard[start : start + run.batch_size]
            batch = collate_samples([dataset[index_of[s]] for s in chunk])
            for sid, image in zip(batch.sample_ids, stream.images(batch), strict=True):
                with atomic_path(out / names[sid]) as tmp:
                    Image.fromarray(image.permute(1, 2, 0).numpy()).save(tmp, format="PNG")
            bar.update(len(batch))
