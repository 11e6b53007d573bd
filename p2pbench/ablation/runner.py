"""Running an ablation into a folder, resumably.

The folder (`--out`) holds:

- `plan.json`: the manifest (`p2pbench-ablation`, version 1): the plan, the options, the
  protocol, every run's full `TrainConfig`, the refused variants and the fixed sample ids;
- `runs/<variant>-seed<S>/`: the trainer's files (`checkpoint.pt`, `config.json`, `log.jsonl`),
  `outputs/<id>.png` (the generator's outputs for the fixed sample ids, exactly the images
  scored) and `result.json`, written last: its presence means the run is finished;
- `ground-truth/`: `result.json` of the real images and `samples/` (input and target of each
  fixed sample);
- `summary.json` and `table.md`: mean ± std and t-intervals over seeds, a paired bootstrap of
  each variant against the reference (`p2pbench.reporting.ablation`).

Every file is written atomically. A finished run is skipped; a run killed mid-training resumes
from its last checkpoint; a manifest that differs from the plan asked for is refused unless
`replan=True`, which keeps only the finished runs whose configuration is unchanged.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from p2pbench.ablation.plans import PlannedAblation
from p2pbench.base import atomic_path, atomic_write_text, sha256_file
from p2pbench.data import quantize_uint8
from p2pbench.distributed import barrier, rank_and_world
from p2pbench.errors import BadInputError
from p2pbench.evaluation import GeneratorModule, evaluate
from p2pbench.evaluation.datasets import protocol_dataset
from p2pbench.evaluation.spec import RunSpec, ScoreSpec
from p2pbench.protocols import Protocol, get_protocol, resolve
from p2pbench.provenance import package_versions
from p2pbench.records import (
    GROUND_TRUTH_LABEL,
    GROUND_TRUTH_VARIANT,
    AblationManifest,
    AblationRun,
    AblationSummary,
    FileRef,
    ManifestRun,
    PlannedVariant,
    SampleFiles,
    read_manifest,
)
from p2pbench.reporting.ablation import render_summary, summarize
from p2pbench.results import Result, read_result
from p2pbench.train import TrainConfig, train
from p2pbench.train.trainer import CHECKPOINT_NAME
from reference_models import read_generator, translate

MANIFEST = "plan.json"
RESULT = "result.json"
SUMMARY = "summary.json"
TABLE = "table.md"
BOOTSTRAP_DRAWS = 1000


class AblationFolderError(BadInputError, ValueError):
    """`--out` cannot hold this ablation (a file, a foreign folder, a changed protocol)."""


class PlanChangedError(AblationFolderError):
    """The folder holds another plan; pass replan=True (`--replan`) to replace it."""


def sample_ids_for(protocol: Protocol, data_root: str | None, count: int) -> list[str]:
    """`count` fixed val sample ids spread over the split (the same for every run)."""
    ids = list(protocol_dataset(protocol, None, data_root).sample_ids)
    if count == 0 or not ids:
        return []
    step = max(len(ids) // count, 1)
    return ids[::step][:count]


def manifest_of(planned: PlannedAblation, sample_ids: Sequence[str]) -> AblationManifest:
    """The manifest written to `plan.json`."""
    plan = planned.plan
    return AblationManifest(
        plan=plan.name,
        title=plan.title,
        task=plan.task,
        paper_table=plan.paper_table,
        reference_variant=plan.reference_variant,
        protocol=planned.protocol.key,
        protocol_digest=planned.protocol.digest(),
        networks=planned.networks,
        options=planned.options.as_dict(),
        variants=tuple(PlannedVariant(v.name, v.label) for v in planned.variants()),
        refused=tuple(planned.refused),
        runs=tuple(
            ManifestRun(r.run_id, r.variant, r.seed, r.config.to_dict()) for r in planned.runs
        ),
        sample_ids=tuple(sample_ids),
        bootstrap_draws=BOOTSTRAP_DRAWS,
        bootstrap_seed=0,
        versions=package_versions(),
    )


def prepare_folder(out: Path, manifest: AblationManifest, *, replan: bool) -> list[str]:
    """Create `out` or check that it holds this plan; returns the run ids found unfinished.

    With `replan`, a different manifest replaces the old one; runs whose configuration changed
    (or that left the plan) are deleted so they cannot be mistaken for runs of the new plan.
    """
    path = out / MANIFEST
    if out.exists() and not out.is_dir():
        raise AblationFolderError(f"--out {out} is a file; give a folder")
    if path.is_file():
        old = read_manifest(path)
        was, now = old.identity(), manifest.identity()
        if was != now:
            changed = sorted(k for k in set(was) | set(now) if was.get(k) != now.get(k))
            if not replan:
                raise PlanChangedError(
                    f"{out} holds a different ablation plan (changed: {', '.join(changed)}); "
                    "pass --replan to replace it (finished runs whose configuration is "
                    "unchanged are kept), or choose another --out"
                )
            _drop_changed_runs(out, old, manifest)
    elif out.is_dir() and any(out.iterdir()):
        raise AblationFolderError(
            f"--out {out} exists, is not empty and holds no {MANIFEST}: choose a new folder"
        )
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, manifest.to_json())
    return [r.run_id for r in manifest.runs if not (out / "runs" / r.run_id / RESULT).is_file()]


def _drop_changed_runs(out: Path, old: AblationManifest, new: AblationManifest) -> None:
    same_images = new.protocol_digest == old.protocol_digest and new.sample_ids == old.sample_ids
    keep = {r.run_id: r.config for r in new.runs} if same_images else {}
    for r in old.runs:
        folder = out / "runs" / r.run_id
        if folder.exists() and keep.get(r.run_id) != r.config:
            shutil.rmtree(folder)
    if not same_images:
        shutil.rmtree(out / GROUND_TRUTH_VARIANT, ignore_errors=True)
    for name in (SUMMARY, TABLE):
        (out / name).unlink(missing_ok=True)


def _write_png(folder: Path, sub: str, name: str, image: torch.Tensor) -> FileRef:
    """Write a [-1, 1] 3×H×W image as `folder/sub/name` PNG atomically; returns its reference
    relative to `folder`."""
    array = quantize_uint8(image).permute(1, 2, 0).cpu().numpy()
    path = folder / sub / name
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        Image.fromarray(np.ascontiguousarray(array)).save(tmp, format="PNG")
    return FileRef(f"{sub}/{name}", sha256_file(path))


def _samples(protocol: Protocol, data_root: str | None, ids: Sequence[str]) -> list[Any]:
    data = protocol_dataset(protocol, None, data_root)
    index = {sid: i for i, sid in enumerate(data.sample_ids)}
    return [data[index[sid]] for sid in ids]


def run_one(out: str | Path, run_id: str, *, progress: bool = True) -> Path:
    """Train (or resume) and score the run `run_id` of the ablation in `out`; returns its
    result path. Finished runs are returned as they are. Picklable: the SLURM jobs call it."""
    out = Path(out)
    manifest = read_manifest(out / MANIFEST)
    entry = manifest.run(run_id)
    run_dir = out / "runs" / run_id
    result_path = run_dir / RESULT
    if result_path.is_file():
        return result_path
    config = TrainConfig.from_dict(entry.config)
    protocol = _protocol(manifest)
    resume = (run_dir / CHECKPOINT_NAME).is_file()
    checkpoint = train(config, run_dir, resume=resume, progress=progress)
    rank, _ = rank_and_world()
    loaded = read_generator(checkpoint)
    module = loaded.module.to(config.device)
    result = evaluate(
        GeneratorModule(module, name=loaded.name),
        protocol=protocol,
        data_root=config.data_root,
        score=ScoreSpec(per_image=True),
        run=RunSpec(device=config.device, progress=progress),
    )
    if rank == 0:
        samples = []
        for sample in _samples(protocol, config.data_root, manifest.sample_ids):
            output = translate(
                module,
                sample.input[None].to(config.device),
                mode=protocol.test_time_mode,
                sample_ids=[sample.sample_id],
                seed=0,
            )[0]
            png = _write_png(run_dir, "outputs", f"{sample.sample_id}.png", output)
            samples.append(SampleFiles(sample.sample_id, {"output": png}))
        label = manifest.label_of(entry.variant)
        record = AblationRun(
            plan=manifest.plan,
            variant=entry.variant,
            label=label,
            seed=entry.seed,
            run_id=run_id,
            checkpoint=CHECKPOINT_NAME,
            checkpoint_sha256=sha256_file(checkpoint),
            steps=loaded.step,
        )
        extra = {**result.extra, "run_id": run_id, "seed": entry.seed}  # as files always had
        finished = replace(
            result, variant=label, ablation=record, samples=tuple(samples), extra=extra
        )
        finished.write(result_path)
    barrier()
    return result_path


def run_ground_truth(out: str | Path, *, progress: bool = True, device: str = "cpu") -> Path:
    """Score the real images (the Ground-truth row) and save the fixed samples' input/target."""
    out = Path(out)
    manifest = read_manifest(out / MANIFEST)
    folder = out / GROUND_TRUTH_VARIANT
    result_path = folder / RESULT
    if result_path.is_file():
        return result_path
    protocol = _protocol(manifest)
    data_root = manifest.options["data_root"]
    result = evaluate(
        None,
        protocol=protocol,
        data_root=data_root,
        score=ScoreSpec(per_image=True),
        run=RunSpec(device=device, progress=progress),
    )
    rank, _ = rank_and_world()
    if rank == 0:
        samples = []
        for sample in _samples(protocol, data_root, manifest.sample_ids):
            sid = sample.sample_id
            files = {
                "input": _write_png(folder, "samples", f"{sid}-input.png", sample.input),
                "target": _write_png(folder, "samples", f"{sid}-target.png", sample.target),
            }
            samples.append(SampleFiles(sid, files))
        record = AblationRun(manifest.plan, GROUND_TRUTH_VARIANT, GROUND_TRUTH_LABEL)
        finished = replace(
            result, variant=GROUND_TRUTH_LABEL, ablation=record, samples=tuple(samples)
        )
        finished.write(result_path)
    barrier()
    return result_path


def _protocol(manifest: AblationManifest) -> Protocol:
    key = str(manifest.protocol)
    if key.startswith("aligned-"):
        direction = "AtoB" if manifest.task == "photo2labels" else "BtoA"
        protocol = resolve(manifest.options["data"], task=manifest.task, direction=direction)
    else:
        protocol = get_protocol(key)
    if protocol.digest() != manifest.protocol_digest:
        raise AblationFolderError(
            f"protocol {key} has changed since this ablation was planned "
            f"(digest {protocol.digest()[:12]} ≠ {str(manifest.protocol_digest)[:12]}); "
            "plan it again in a new folder"
        )
    return protocol


@dataclass(frozen=True)
class FolderSummary:
    summary: AblationSummary | None  # None on the ranks that do not write it
    table: str


def summarize_folder(out: str | Path) -> FolderSummary:
    """Read every finished run of the ablation in `out`; write summary.json and table.md."""
    out = Path(out)
    manifest = read_manifest(out / MANIFEST)
    results: dict[str, list[Result]] = {}
    for r in manifest.runs:
        path = out / "runs" / r.run_id / RESULT
        if path.is_file():
            results.setdefault(r.variant, []).append(read_result(path))
    gt_path = out / GROUND_TRUTH_VARIANT / RESULT
    ground_truth = read_result(gt_path) if gt_path.is_file() else None
    summary = summarize(manifest, results, ground_truth)
    table = render_summary(summary, "markdown")
    atomic_write_text(out / SUMMARY, summary.to_json())
    atomic_write_text(out / TABLE, table)
    return FolderSummary(summary, table)


def run_local(
    out: str | Path,
    *,
    progress: bool = True,
    on_run: Callable[[str, int, int], None] | None = None,
) -> FolderSummary:
    """Run every unfinished run of the ablation in `out` here, one after another, then the
    ground truth and the summary. `on_run(run_id, i, n)` is called before each run."""
    out = Path(out)
    manifest = read_manifest(out / MANIFEST)
    runs = [r.run_id for r in manifest.runs]
    device = manifest.options["device"]
    if not (out / GROUND_TRUTH_VARIANT / RESULT).is_file():
        if on_run is not None:
            on_run(GROUND_TRUTH_VARIANT, 0, len(runs))
        run_ground_truth(out, progress=progress, device=device)
    for i, run_id in enumerate(runs, 1):
        if on_run is not None:
            on_run(run_id, i, len(runs))
        run_one(out, run_id, progress=progress)
    rank, _ = rank_and_world()
    summary = summarize_folder(out) if rank == 0 else FolderSummary(None, "")
    barrier()
    return summary
