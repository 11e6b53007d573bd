"""`generate`: write a generator's outputs on a protocol's split as PNG files.

Outputs are produced exactly as `evaluate` produces them (same dataset, test-time mode, seeds
and uint8 rule) and written losslessly, so `eval --images DIR` on the folder gives the same
numbers as `eval --gen CKPT`. A manifest (`generate.json`) records what produced the folder.

The folder is written atomically: the PNGs, then the manifest, go into a hidden temporary folder
beside it that is renamed into place at the end, so an interrupted run never leaves a folder
that looks complete. A non-empty folder is replaced only with `overwrite` (and only one that
`generate` wrote), and never one that holds or lies inside the data being read.
"""

from __future__ import annotations

import datetime
import json
import os
import pickle
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch import nn
from tqdm import tqdm

from p2pbench import compute
from p2pbench.base import atomic_dir, check_new_output_dir, move_into_place, temp_dir_beside
from p2pbench.data import PairedDataset, load_batches
from p2pbench.data.cityscapes import resolve_root
from p2pbench.distributed import broadcast_object, gather_lists, rank_and_world, shard_range
from p2pbench.errors import InvalidValueError, PathExistsError
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
from p2pbench.timing import WallTimeEstimate

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
    overwrite: bool = False,
) -> dict[str, Any]:
    """Write one PNG per sample of the protocol's split (or the first `limit`) into `out_dir`;
    returns the manifest.

    `out_dir` must be missing or empty, or, with `overwrite`, a folder `generate` wrote (it is
    replaced once the new one is complete); this is checked before any model is loaded. Under
    torch.distributed every rank writes its shard and rank 0 writes the manifest.
    """
    source = as_source(generator)
    if not isinstance(source, (GeneratorFile, GeneratorModule)):
        raise InvalidValueError(
            f"generate needs a generator checkpoint or module, not {generator!r}"
        )
    proto = protocol_for(source, get_protocol(protocol) if isinstance(protocol, str) else protocol)
    if limit is not None and limit < 1:
        raise InvalidValueError(f"limit must be at least 1, found {limit}")
    if run.fast_math is not None:
        raise InvalidValueError(
            f"--fast-math {run.fast_math} applies to the metric networks of eval; generate runs "
            "only the generator, in fp32"
        )
    out = Path(out_dir)
    _check_output(out, source, proto, data_root, overwrite)
    dataset = protocol_dataset(proto, split, data_root)
    all_ids = list(dataset.sample_ids)  # type: ignore[attr-defined]
    ids = all_ids[:limit] if limit else all_ids
    naming = "original" if proto.dataset == "cityscapes" else "sample-id"
    names = image_names(proto, dataset, ids, naming)
    device = torch.device(run.device)
    stream = open_source(
        source, proto, dataset, ids, seed=run.seed, device=device, channels_last=not run.exact
    )
    if rank_and_world()[1] == 1:
        with atomic_dir(out, overwrite=overwrite) as tmp:
            try:
                _write_images(dataset, all_ids, ids, names, stream, tmp, run)
            finally:
                stream.close()
            manifest = _manifest(proto, split, ids, limit, naming, stream, run)
            _write_manifest(tmp, manifest)
        return manifest
    tmp = _shared_temp_dir(out)
    try:
        _write_images(dataset, all_ids, ids, names, stream, tmp, run)
        failure = None
    except Exception as e:
        failure = _portable(e)
    finally:
        stream.close()
    manifest = _manifest(proto, split, ids, limit, naming, stream, run)
    _finish_shared(tmp, out, manifest, gather_lists([failure]), overwrite)
    return manifest


def _check_output(
    out: Path,
    source: GeneratorFile | GeneratorModule,
    proto: Protocol,
    data_root: str | None,
    overwrite: bool,
) -> None:
    """Refuse an output folder that is, holds or lies inside the data or the checkpoint read,
    a non-empty folder without `overwrite`, and one `generate` did not write with it."""
    inputs: list[tuple[str, Path]] = []
    if proto.dataset == "aligned" and proto.data_path:
        inputs.append(("the dataset folder", Path(proto.data_path)))
    if proto.dataset == "cityscapes":
        inputs.append(("the Cityscapes root", resolve_root(data_root)))
    if isinstance(source, GeneratorFile):
        inputs.append(("the checkpoint", Path(source.path)))
    target = out.resolve()
    for what, path in inputs:
        given = path.resolve()
        if target == given:
            relation = "is"
        elif target.is_relative_to(given):
            relation = "is inside"
        elif given.is_relative_to(target):
            relation = "contains"
        else:
            continue
        raise InvalidValueError(
            f"the output folder {out} {relation} {what} {path} that generate reads; "
            "expected a folder apart from its inputs: choose another output folder"
        )
    check_new_output_dir(out, overwrite)
    if overwrite and out.is_dir() and any(out.iterdir()) and not (out / MANIFEST).is_file():
        raise PathExistsError(
            f"{out} is not a folder written by p2pbench generate (no {MANIFEST}), so "
            "--overwrite does not replace it; remove it yourself or choose another folder"
        )


def _manifest(
    proto: Protocol,
    split: str | None,
    ids: Sequence[str],
    limit: int | None,
    naming: str,
    stream: ImageStream,
    run: RunSpec,
) -> dict[str, Any]:
    """What produced the folder: protocol, source, seed, naming, versions, time."""
    described = stream.describe()
    return {
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


def _write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def _portable(error: Exception) -> Exception:
    """`error` if it can be sent to other ranks (pickled), else a RuntimeError saying it."""
    try:
        pickle.loads(pickle.dumps(error))
    except Exception:
        return RuntimeError(f"{type(error).__name__}: {error}")
    return error


def _shared_temp_dir(out: Path) -> Path:
    """Rank 0 creates the temporary folder beside `out`; every rank gets its path (or the
    error that prevented it)."""
    made: str | Exception | None = None
    if rank_and_world()[0] == 0:
        try:
            made = str(temp_dir_beside(out))
        except Exception as e:
            made = _portable(e)
    made = broadcast_object(made)
    if isinstance(made, Exception):
        raise made
    return Path(str(made))


def _finish_shared(
    tmp: Path,
    out: Path,
    manifest: dict[str, Any],
    failures: list[Exception | None],
    overwrite: bool,
) -> None:
    """After every rank wrote its shard (`failures`: one per rank, gathered, which waits for
    all): rank 0 writes the manifest and renames the folder into place; every rank returns
    once it is there, or raises the first failure."""
    failure = next((f for f in failures if f is not None), None)
    if rank_and_world()[0] == 0:
        if failure is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            try:
                _write_manifest(tmp, manifest)
                move_into_place(tmp, out, overwrite=overwrite)
            except Exception as e:
                shutil.rmtree(tmp, ignore_errors=True)
                failure = _portable(e)
    failure = broadcast_object(failure)  # rank 0's outcome: the others wait for the rename
    if failure is not None:
        raise failure


def _write_images(
    dataset: PairedDataset,
    all_ids: Sequence[str],
    ids: Sequence[str],
    names: dict[str, str],
    stream: ImageStream,
    out: Path,
    run: RunSpec,
) -> None:
    """Write this rank's contiguous shard of `ids`, one PNG each, into `out`."""
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
    chunks = [
        [index_of[s] for s in shard[start : start + run.batch_size]]
        for start in range(0, len(shard), run.batch_size)
    ]
    expected = WallTimeEstimate("generate", len(shard), enabled=run.progress and rank == 0)
    with bar, compute.metric_math(run.device):
        for batch in load_batches(dataset, chunks, workers=run.workers):
            for sid, image in zip(batch.sample_ids, stream.images(batch), strict=True):
                Image.fromarray(image.permute(1, 2, 0).numpy()).save(out / names[sid], "PNG")
            bar.update(len(batch))
            expected.update(bar.n)
