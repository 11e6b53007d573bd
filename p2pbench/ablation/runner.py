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

import json
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from p2pbench.ablation.plans import PlannedAblation
from p2pbench.base import atomic_path, atomic_write_text, sha256_file
from p2pbench.data import quantize_uint8
from p2pbench.distributed import barrier, rank_and_world
from p2pbench.evaluation import GeneratorModule, evaluate
from p2pbench.evaluation.datasets import protocol_dataset
from p2pbench.evaluation.spec import RunSpec, ScoreSpec
from p2pbench.protocols import Protocol, get_protocol, resolve
from p2pbench.provenance import package_versions
from p2pbench.reporting.ablation import render_summary, summarize
from p2pbench.results import Result, read_result
from p2pbench.train import TrainConfig, train
from p2pbench.train.trainer import CHECKPOINT_NAME
from reference_models import read_generator, translate

MANIFEST = "plan.json"
FORMAT = "p2pbench-ablation"
VERSION = 1
RESULT = "result.json"
GROUND_TRUTH = "ground-truth"
BOOTSTRAP_DRAWS = 1000
# what may differ between two manifests of the same plan (not part of what is computed)
_VOLATILE = ("created", "command", "versions")


class PlanChangedError(ValueError):
    """The folder holds another plan; pass replan=True (`--replan`) to replace it."""


def sample_ids_for(protocol: Protocol, data_root: str | None, count: int) -> list[str]:
    """`count` fixed val sample ids spread over the split (the same for every run)."""
    ids = list(protocol_dataset(protocol, None, data_root).sample_ids)
    if count == 0 or not ids:
        return []
    step = max(len(ids) // count, 1)
    return ids[::step][:count]


def manifest_of(planned: PlannedAblation, sample_ids: Sequence[str]) -> dict[str, Any]:
    """The manifest written to `plan.json`."""
    plan = planned.plan
    return {
        "format": FORMAT,
        "version": VERSION,
        "plan": plan.name,
        "title": plan.title,
        "task": plan.task,
        "paper_table": plan.paper_table,
        "reference_variant": plan.reference_variant,
        "protocol": planned.protocol.key,
        "protocol_digest": planned.protocol.digest(),
        "networks": planned.networks,
        "options": planned.options.as_dict(),
        "variants": [{"name": v.name, "label": v.label} for v in planned.variants()],
        "refused": [{"variant": v, "reason": r} for v, r in planned.refused],
        "runs": [
            {"run_id": r.run_id, "variant": r.variant, "seed": r.seed, "config": r.config.to_dict()}
            for r in planned.runs
        ],
        "sample_ids": list(sample_ids),
        "bootstrap": {"draws": BOOTSTRAP_DRAWS, "seed": 0},
        "versions": package_versions(),
    }


def _identity(manifest: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in manifest.items() if k not in _VOLATILE}


def prepare_folder(out: Path, manifest: dict[str, Any], *, replan: bool) -> list[str]:
    """Create `out` or check that it holds this plan; returns the run ids found unfinished.

    With `replan`, a different manifest replaces the old one; runs whose configuration changed
    (or that left the plan) are deleted so they cannot be mistaken for runs of the new plan.
    """
    path = out / MANIFEST
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"--out {out} is a file; give a folder")
    if path.is_file():
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise ValueError(f"{path} is not a readable ablation manifest: {e}") from e
        if old.get("format") != FORMAT:
            raise ValueError(f"{path} is not an ablation manifest (format {old.get('format')!r})")
        if _identity(old) != _identity(manifest):
            changed = sorted(
                k
                for k in set(_identity(old)) | set(_identity(manifest))
                if old.get(k) != manifest.get(k)
            )
            if not replan:
                raise PlanChangedError(
                    f"{out} holds a different ablation plan (changed: {', '.join(changed)}); "
                    "pass --replan to replace it (finished runs whose configuration is "
                    "unchanged are kept), or choose another --out"
                )
            _drop_changed_runs(out, old, manifest)
    elif out.is_dir() and any(out.iterdir()):
        raise FileExistsError(
            f"--out {out} exists, is not empty and holds no {MANIFEST}: choose a new folder"
        )
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
    return [
        r["run_id"] for r in manifest["runs"] if not (out / "runs" / r["run_id"] / RESULT).is_file()
    ]


def _drop_changed_runs(out: Path, old: dict[str, Any], new: dict[str, Any]) -> None:
    keep = {
        r["run_id"]: r["config"]
        for r in new["runs"]
        if new.get("protocol_digest") == old.get("protocol_digest")
        and new.get("sample_ids") == old.get("sample_ids")
    }
    for r in old.get("runs", []):
        folder = out / "runs" / r["run_id"]
        if folder.exists() and keep.get(r["run_id"]) != r["config"]:
            shutil.rmtree(folder)
    if old.get("protocol_digest") != new.get("protocol_digest") or old.get("sample_ids") != new.get(
        "sample_ids"
    ):
        shutil.rmtree(out / GROUND_TRUTH, ignore_errors=True)
    for name in ("summary.json", "table.md"):
        (out / name).unlink(missing_ok=True)


def _write_png(path: Path, image: torch.Tensor) -> dict[str, str]:
    """Write a [-1, 1] 3×H×W image as PNG atomically; returns its {path, sha256} entry."""
    array = quantize_uint8(image).permute(1, 2, 0).cpu().numpy()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        Image.fromarray(np.ascontiguousarray(array)).save(tmp, format="PNG")
    return {"path": path.name, "sha256": sha256_file(path)}


def _relative(entry: dict[str, str], folder: str) -> dict[str, str]:
    return {"path": f"{folder}/{entry['path']}", "sha256": entry["sha256"]}


def _samples(protocol: Protocol, data_root: str | None, ids: Sequence[str]) -> list[Any]:
    data = protocol_dataset(protocol, None, data_root)
    index = {sid: i for i, sid in enumerate(data.sample_ids)}
    return [data[index[sid]] for sid in ids]


def _with_extra(result: Result, extra: dict[str, Any]) -> Result:
    return Result.from_dict({**result.to_dict(), **extra})


def run_one(out: str | Path, run_id: str, *, progress: bool = True) -> Path:
    """Train (or resume) and score the run `run_id` of the ablation in `out`; returns its
    result path. Finished runs are returned as they are. Picklable: the SLURM jobs call it."""
    out = Path(out)
    manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    (entry,) = [r for r in manifest["runs"] if r["run_id"] == run_id]
    run_dir = out / "runs" / run_id
    result_path = run_dir / RESULT
    if result_path.is_file():
        return result_path
    config = TrainConfig.from_dict(entry["config"])
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
        ids = manifest["sample_ids"]
        samples = []
        for sample in _samples(protocol, config.data_root, ids):
            output = translate(
                module,
                sample.input[None].to(config.device),
                mode=protocol.test_time_mode,
                sample_ids=[sample.sample_id],
                seed=0,
            )[0]
            png = _write_png(run_dir / "outputs" / f"{sample.sample_id}.png", output)
            samples.append({"sample_id": sample.sample_id, "output": _relative(png, "outputs")})
        extra = {
            "variant": _label(manifest, entry["variant"]),
            "run_id": run_id,
            "seed": entry["seed"],
            "ablation": {
                "plan": manifest["plan"],
                "variant": entry["variant"],
                "label": _label(manifest, entry["variant"]),
                "seed": entry["seed"],
                "run_id": run_id,
                "checkpoint": CHECKPOINT_NAME,
                "checkpoint_sha256": sha256_file(checkpoint),
                "steps": loaded.step,
            },
            "samples": samples,
        }
        _with_extra(result, extra).write(result_path)
    barrier()
    return result_path


def run_ground_truth(out: str | Path, *, progress: bool = True, device: str = "cpu") -> Path:
    """Score the real images (the Ground-truth row) and save the fixed samples' input/target."""
    out = Path(out)
    manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    folder = out / GROUND_TRUTH
    result_path = folder / RESULT
    if result_path.is_file():
        return result_path
    protocol = _protocol(manifest)
    data_root = manifest["options"]["data_root"]
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
        for sample in _samples(protocol, data_root, manifest["sample_ids"]):
            sid = sample.sample_id
            inp = _write_png(folder / "samples" / f"{sid}-input.png", sample.input)
            target = _write_png(folder / "samples" / f"{sid}-target.png", sample.target)
            samples.append(
                {
                    "sample_id": sid,
                    "input": _relative(inp, "samples"),
                    "target": _relative(target, "samples"),
                }
            )
        extra = {
            "variant": "Ground truth",
            "ablation": {
                "plan": manifest["plan"],
                "variant": "ground-truth",
                "label": "Ground truth",
            },
            "samples": samples,
        }
        _with_extra(result, extra).write(result_path)
    barrier()
    return result_path


def _protocol(manifest: dict[str, Any]) -> Protocol:
    options = manifest["options"]
    if manifest["protocol"].startswith("aligned-"):
        direction = "AtoB" if manifest["task"] == "photo2labels" else "BtoA"
        protocol = resolve(options["data"], task=manifest["task"], direction=direction)
    else:
        protocol = get_protocol(manifest["protocol"])
    if protocol.digest() != manifest["protocol_digest"]:
        raise ValueError(
            f"protocol {manifest['protocol']} has changed since this ablation was planned "
            f"(digest {protocol.digest()[:12]} ≠ {manifest['protocol_digest'][:12]}); "
            "plan it again in a new folder"
        )
    return protocol


def _label(manifest: dict[str, Any], variant: str) -> str:
    for v in manifest["variants"]:
        if v["name"] == variant:
            return str(v["label"])
    return variant


@dataclass(frozen=True)
class FolderSummary:
    summary: dict[str, Any]
    table: str


def summarize_folder(out: str | Path) -> FolderSummary:
    """Read every finished run of the ablation in `out`; write summary.json and table.md."""
    out = Path(out)
    manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    results: dict[str, list[Result]] = {}
    for r in manifest["runs"]:
        path = out / "runs" / r["run_id"] / RESULT
        if path.is_file():
            results.setdefault(r["variant"], []).append(read_result(path))
    gt_path = out / GROUND_TRUTH / RESULT
    ground_truth = read_result(gt_path) if gt_path.is_file() else None
    boot = manifest.get("bootstrap", {})
    summary = summarize(
        manifest,
        results,
        ground_truth,
        draws=int(boot.get("draws", BOOTSTRAP_DRAWS)),
        seed=int(boot.get("seed", 0)),
    )
    table = render_summary(summary, "markdown")
    atomic_write_text(
        out / "summary.json", json.dumps(summary, indent=1, ensure_ascii=False) + "\n"
    )
    atomic_write_text(out / "table.md", table)
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
    manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    runs = [r["run_id"] for r in manifest["runs"]]
    device = manifest["options"]["device"]
    if not (out / GROUND_TRUTH / RESULT).is_file():
        if on_run is not None:
            on_run(GROUND_TRUTH, 0, len(runs))
        run_ground_truth(out, progress=progress, device=device)
    for i, run_id in enumerate(runs, 1):
        if on_run is not None:
            on_run(run_id, i, len(runs))
        run_one(out, run_id, progress=progress)
    rank, _ = rank_and_world()
    summary = summarize_folder(out) if rank == 0 else FolderSummary({}, "")
    barrier()
    return summary
