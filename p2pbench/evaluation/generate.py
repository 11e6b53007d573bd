"""`p2pbench generate`: write a generator's outputs on a protocol's split as PNG files.

Outputs are produced exactly as `evaluate` produces them (same dataset, test-time mode, seeds
and uint8 rule) and written losslessly, so `eval --images DIR` on the folder gives the same
numbers as `eval --gen CKPT`. Each PNG is written atomically; a manifest (`generate.json`)
records what produced the folder.
"""

from __future__ import annotations

import datetime
import json
import sys
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from tqdm import tqdm

from p2pbench.base import atomic_path, atomic_write_text
from p2pbench.data import collate_samples
from p2pbench.distributed import rank_and_world, shard_range
from p2pbench.evaluation.loop import (
    EvalConfig,
    _make_source,
    image_names,
    protocol_dataset,
    resolve_protocol,
)
from p2pbench.provenance import package_versions

MANIFEST = "generate.json"


def generate(config: EvalConfig, out_dir: str | Path) -> dict[str, Any]:
    """Write one PNG per sample of the protocol's split (or the first `limit`) into `out_dir`."""
    if config.source != "generator":
        raise ValueError("generate needs a generator checkpoint")
    protocol = resolve_protocol(config)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    dataset = protocol_dataset(protocol, config.split, config.data_root)
    ids = list(dataset.sample_ids)  # type: ignore[attr-defined]
    ids = ids[: config.limit] if config.limit else ids
    index_of = {sid: i for i, sid in enumerate(dataset.sample_ids)}  # type: ignore[attr-defined]
    naming = "original" if protocol.dataset == "cityscapes" else "sample-id"
    names = image_names(protocol, dataset, ids, naming)
    source = _make_source(config, protocol, dataset, ids, torch.device(config.device))
    rank, world = rank_and_world()
    shard = [ids[i] for i in shard_range(len(ids), rank, world)]
    bar = tqdm(
        total=len(shard),
        disable=not config.progress or rank != 0,
        file=sys.stderr,
        unit="img",
        desc="generate",
    )
    for start in range(0, len(shard), config.batch_size):
        batch = collate_samples(
            [dataset[index_of[s]] for s in shard[start : start + config.batch_size]]
        )
        for sid, image in zip(batch.sample_ids, source.images(batch), strict=True):
            with atomic_path(out / names[sid]) as tmp:
                Image.fromarray(image.permute(1, 2, 0).numpy()).save(tmp, format="PNG")
        bar.update(len(batch))
    bar.close()
    manifest = {
        "protocol": protocol.key,
        "protocol_digest": protocol.digest(),
        "split": config.split or protocol.split,
        "n_images": len(ids),
        "limit": config.limit,
        "source": source.describe(),
        "checkpoint": config.path,
        "seed": config.seed,
        "naming": naming,
        "versions": package_versions(),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    if rank == 0:
        atomic_write_text(out / MANIFEST, json.dumps(manifest, indent=2) + "\n")
    return manifest
