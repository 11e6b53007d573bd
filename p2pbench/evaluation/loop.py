"""`evaluate`: a source of images under a protocol → every evaluator → a `Result`.

Three steps, each its own function:
1. `select_ids`: the protocol's split (all of it unless a limit says otherwise).
2. `run_loop`: batches stream through (source images as uint8 → every evaluator's
   `process`); nothing holds the dataset in memory. With several processes each rank takes a
   contiguous shard (no padding); test-time randomness is seeded per sample id, so results
   depend neither on the batch size nor on the number of processes.
3. `assemble_result`: the evaluators' outputs, the protocol and the provenance → `Result`.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import random
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from p2pbench import compute
from p2pbench.compute import check_fast_math, compute_path
from p2pbench.data import Batch, PairedDataset, load_batches
from p2pbench.distributed import gather_lists, rank_and_world, shard_range
from p2pbench.errors import InvalidValueError
from p2pbench.evaluation.datasets import protocol_dataset
from p2pbench.evaluation.evaluators import Evaluator, EvaluatorOutput, build_evaluators
from p2pbench.evaluation.sources import (
    ImageStream,
    RealImages,
    Source,
    as_source,
    open_source,
    protocol_for,
)
from p2pbench.evaluation.spec import EncoderSpec, RunSpec, ScoreSpec
from p2pbench.metrics.availability import require_available
from p2pbench.protocols import Protocol, get_protocol
from p2pbench.provenance import package_versions
from p2pbench.results import Result
from p2pbench.timing import WallTimeEstimate


@dataclass(frozen=True)
class Selection:
    """The sample ids an evaluation covers, in split order."""

    all_ids: tuple[str, ...]  # the whole split
    ids: tuple[str, ...]  # the first `limit` of them, or all
    split: str
    partial_split: bool  # the split holds fewer images than the protocol expects


def evaluate(
    source: Source | nn.Module | str | None,
    *,
    protocol: str | Protocol = "synthcity",
    data_root: str | None = None,
    score: ScoreSpec = ScoreSpec(),
    run: RunSpec = RunSpec(),
    encoder: EncoderSpec = EncoderSpec(),
) -> Result:
    """Score `source` under `protocol` and return the result.

    `source`: a generator checkpoint path, a folder of generated PNGs, an `nn.Module` in memory,
    None for the real images, or a source from `p2pbench.evaluation.sources`. `protocol`: a
    registered name (`p2pbench.protocols.PROTOCOLS`) or a `Protocol` (e.g. from
    `p2pbench.protocols.resolve`). `data_root`: where Cityscapes lies (else
    $CITYSCAPES_DATASET).
    """
    check_fast_math(run.fast_math, score.metrics)
    src = as_source(source)
    proto = protocol_for(src, get_protocol(protocol) if isinstance(protocol, str) else protocol)
    dataset = protocol_dataset(proto, score.split, data_root)
    selection = select_ids(proto, dataset, score)
    device = torch.device(run.device)
    with _restored_global_rng():
        stream = open_source(
            src,
            proto,
            dataset,
            selection.ids,
            seed=run.seed,
            device=device,
            allow_missing=score.allow_missing,
            channels_last=not run.exact,
        )
        try:
            skipped = set(stream.missing)
            scored = [sid for sid in selection.ids if sid not in skipped]
            if not scored:
                raise InvalidValueError("no images to score")
            evaluators = build_evaluators(
                proto,
                score.metrics,
                real_source=isinstance(src, RealImages),
                device=device,
                per_image=score.per_image,
                segmenter_weights=score.segmenter_weights,
                encoder=encoder,
                n_images=len(scored),
                dataset=dataset,
                ids=scored,
                channels_last=not run.exact,
            )
            digests = run_loop(dataset, selection, scored, stream, evaluators, run, proto.key)
            outputs = [e.evaluate() for e in evaluators]
        finally:
            stream.close()
    result = assemble_result(proto, selection, scored, stream, outputs, digests, score, run)
    if score.require:
        require_available(result.metrics, score.require)
    return result


def select_ids(protocol: Protocol, dataset: PairedDataset, score: ScoreSpec) -> Selection:
    """The ids to score; an incomplete split or a limit beyond it is an error."""
    split = score.split or protocol.split
    all_ids = tuple(dataset.sample_ids)  # type: ignore[attr-defined]
    partial = len(all_ids) != protocol.expected_images
    if split == protocol.split and partial and not score.allow_partial_split:
        raise InvalidValueError(
            f"protocol {protocol.key} scores all {protocol.expected_images} {protocol.split} "
            f"images, but the dataset has {len(all_ids)}: is the download complete? "
            "(--allow-partial-split scores what is there, recorded in the result)"
        )
    if score.limit is not None and score.limit > len(all_ids):
        raise InvalidValueError(
            f"--limit {score.limit} exceeds the {len(all_ids)} images of the split"
        )
    ids = all_ids[: score.limit] if score.limit else all_ids
    return Selection(all_ids, ids, split, partial)


def run_loop(
    dataset: PairedDataset,
    selection: Selection,
    scored: Sequence[str],
    stream: ImageStream,
    evaluators: Sequence[Evaluator],
    run: RunSpec,
    label: str,
) -> list[tuple[str, str]]:
    """Feed this rank's shard to every evaluator; returns (sample id, input digest) in order."""
    index_of = {sid: i for i, sid in enumerate(selection.all_ids)}
    rank, world = rank_and_world()
    shard = [scored[i] for i in shard_range(len(scored), rank, world)]
    digests: list[tuple[str, str]] = []
    bar = tqdm(
        total=len(shard),
        disable=not run.progress or rank != 0,
        file=sys.stderr,
        unit="img",
        desc=f"eval {label}",
    )
    chunks = [
        [index_of[s] for s in shard[start : start + run.batch_size]]
        for start in range(0, len(shard), run.batch_size)
    ]
    loaded = load_batches(
        dataset, chunks, workers=run.workers, pin_memory=torch.device(run.device).type == "cuda"
    )
    expected = WallTimeEstimate(f"eval {label}", len(shard), enabled=run.progress and rank == 0)
    with bar, compute.metric_math(run.device):
        for indices, batch in zip(chunks, loaded, strict=True):
            images = stream.images(batch)
            for evaluator in evaluators:
                evaluator.process(images, batch, indices)
            digests += [(sid, sample_digest(batch, i)) for i, sid in enumerate(batch.sample_ids)]
            bar.update(len(batch))
            expected.update(bar.n)
    return gather_lists(digests)


def assemble_result(
    protocol: Protocol,
    selection: Selection,
    scored: Sequence[str],
    stream: ImageStream,
    outputs: Sequence[EvaluatorOutput],
    digests: Sequence[tuple[str, str]],
    score: ScoreSpec,
    run: RunSpec,
) -> Result:
    """The result of an evaluation: metrics by key, the protocol, the source, the provenance."""
    metrics: dict[str, Any] = {}
    counts: dict[str, Any] = {}
    sections: dict[str, Any] = {"segmenter": None}
    per_image = None
    for out in outputs:
        metrics.update(out.metrics)
        counts.update(out.counts)
        sections.update(out.provenance)
        per_image = out.per_image if out.per_image is not None else per_image
    return Result(
        protocol=_as_json_values(
            {
                **protocol.as_dict(),
                "key": protocol.key,
                "digest": protocol.digest(),
                "split_used": selection.split,
            }
        ),
        task=protocol.task,
        source=stream.describe(),
        n_images=len(scored),
        limit=score.limit,
        missing=list(stream.missing),
        partial_split=selection.partial_split,
        metrics=metrics,
        counts=counts,
        per_image=per_image,
        provenance={
            "versions": package_versions(),
            "seed": run.seed,
            "world_size": rank_and_world()[1],
            "batch_size": run.batch_size,
            "device": str(torch.device(run.device)),
            "compute": {
                "exact": run.exact,
                **compute_path(run.device, channels_last=not run.exact),
                "tf32": False,
            },
            "test_time_mode": protocol.test_time_mode,
            "data_sha256": hashlib.sha256("".join(d for _, d in digests).encode()).hexdigest(),
            **sections,
            "command": list(run.command),
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        },
    )


def _as_json_values(data: dict[str, Any]) -> dict[str, Any]:
    """`data` as it reads back from JSON (tuples become lists), so a result equals its file."""
    return json.loads(json.dumps(data))


def sample_digest(batch: Batch, i: int) -> str:
    """sha256 of what a sample feeds the evaluation: its input and, if any, its label map."""
    h = hashlib.sha256()
    h.update(batch.input[i].numpy().tobytes())
    if batch.label is not None:
        h.update(batch.label[i].numpy().astype(np.int64).tobytes())
    return h.hexdigest()


@contextlib.contextmanager
def _restored_global_rng() -> Iterator[None]:
    """Leave the global torch, NumPy and Python random states as they were."""
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []
    np_state, py_state = np.random.get_state(), random.getstate()
    with torch.random.fork_rng(devices=devices):
        try:
            yield
        finally:
            np.random.set_state(np_state)
            random.setstate(py_state)
