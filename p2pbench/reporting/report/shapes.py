"""Every read of the ablation files' dict shapes the report makes, in one place.

`p2pbench ablate` writes `plan.json`, `summary.json`, a `log.jsonl` beside each run and an
`extra["ablation"]` (and `extra["samples"]`) in each run's result. The report reads those shapes
only through the functions here, so that they can be replaced by the typed records of the
results layer without touching the rest of the report. Each one tolerates a missing or
mistyped field the way the report always has (an absent value, never a crash).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from p2pbench.results import Result
from p2pbench.train import TIMING_KEYS

ABLATION_FORMAT = "p2pbench-ablation"
SUMMARY_FORMAT = "p2pbench-ablation-summary"
GROUND_TRUTH = "ground-truth"
LOG_NAME = "log.jsonl"
SAMPLE_ROLES = ("input", "output", "target")

Shape = Mapping[str, Any]


def finite(value: Any) -> float | None:
    """`value` as a float when it is a finite number (not a bool), else None."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    return float(value) if ok and math.isfinite(value) else None


def _items(data: Shape | None, key: str) -> list[Any]:
    """`data[key]` when it is a list, else [] (a malformed file shows nothing, never crashes)."""
    value = (data or {}).get(key)
    return value if isinstance(value, list) else []


def file_format(data: Shape | None) -> Any:
    """The `format` a JSON object declares (plan or summary), or None."""
    return data.get("format") if data is not None else None


# ------------------------------------------------------------------------------------------
# A run's result: extra["ablation"] and extra["samples"]


def ablation_info(result: Result) -> dict[str, Any]:
    """The run's `extra["ablation"]` record; {} for a result that no ablation wrote."""
    info = result.extra.get("ablation")
    return info if isinstance(info, dict) else {}


def in_ablation(result: Result) -> bool:
    """Whether the result carries an ablation record (a run or the ground truth)."""
    return bool(ablation_info(result))


def run_variant(result: Result) -> Any:
    """The variant name the result records (GROUND_TRUTH for the real images), or None."""
    return ablation_info(result).get("variant")


def is_run(result: Result) -> bool:
    """A trained variant's run (not the ground truth, not a plain result)."""
    return run_variant(result) not in (None, GROUND_TRUTH)


def is_ground_truth(result: Result) -> bool:
    return run_variant(result) == GROUND_TRUTH


def run_label(result: Result) -> str:
    """The variant's label as the run records it, else its name."""
    info = ablation_info(result)
    return str(info.get("label") or info.get("variant"))


def run_seed(result: Result) -> float:
    """The run's training seed as a sort key (inf when none is recorded)."""
    # seed rule: see records (this falls back to the eval seed `provenance.seed`;
    # reporting/ablation.py falls back to `source.run.seed`)
    seed = finite(ablation_info(result).get("seed", result.provenance.get("seed")))
    return seed if seed is not None else math.inf


def recorded_seed(result: Result) -> Any:
    """The seed the ablation record names, as written (None when absent)."""
    return ablation_info(result).get("seed")


def seed_text(result: Result) -> str:
    """The seed the ablation record names, for a label ("?" when absent)."""
    return str(ablation_info(result).get("seed", "?"))


def run_id(result: Result) -> Any:
    return ablation_info(result).get("run_id")


def result_samples(result: Result | None) -> dict[str, dict[str, Any]]:
    """The fixed val samples a result saved (`extra["samples"]`), by sample id."""
    samples = result.extra.get("samples") if result is not None else None
    return {
        str(s["sample_id"]): s
        for s in (samples if isinstance(samples, list) else [])
        if isinstance(s, dict) and "sample_id" in s
    }


def sample_file(sample: Shape, role: str) -> Any:
    """The file reference (`{"path", "sha256"}`) of a sample's `role`, as recorded."""
    return sample.get(role)


def file_path(ref: Any) -> str | None:
    """The path a file reference records, or None when it records none."""
    path = ref.get("path") if isinstance(ref, dict) else None
    return path if isinstance(path, str) else None


def file_sha256(ref: Any) -> Any:
    return ref.get("sha256") if isinstance(ref, dict) else None


def referenced_files(result: Result) -> list[tuple[str, dict[str, Any]]]:
    """(description, file reference) of every sample file the result records."""
    out = []
    for sid, sample in result_samples(result).items():
        for role in SAMPLE_ROLES:
            ref = sample_file(sample, role)
            if isinstance(ref, dict):
                out.append((f"sample {sid} {role} ({ref.get('path')})", ref))
    return out


# ------------------------------------------------------------------------------------------
# plan.json


@dataclass(frozen=True)
class Variant:
    name: str
    label: str


def plan_variants(plan: Shape | None) -> list[Variant]:
    """The plan's variants, in its order."""
    out = []
    for v in _items(plan, "variants"):
        if isinstance(v, dict) and isinstance(v.get("name"), str):
            out.append(Variant(v["name"], str(v.get("label") or v["name"])))
    return out


def plan_run_ids(plan: Shape | None) -> list[Any]:
    """The run ids the plan lists (None where a run names none)."""
    return [r.get("run_id") for r in _items(plan, "runs") if isinstance(r, dict)]


def plan_name(plan: Shape) -> Any:
    return plan.get("plan")


def plan_title(plan: Shape | None) -> str:
    return str((plan or {}).get("title") or "")


def plan_paper_table(plan: Shape | None) -> str | None:
    """The `paper_table` a plan names (e.g. `pix2pix-2017:table3`), or None."""
    wanted = (plan or {}).get("paper_table")
    return wanted if isinstance(wanted, str) else None


# ------------------------------------------------------------------------------------------
# summary.json (its table comes from p2pbench.reporting.ablation.render_summary)


def reference_variant(summary: Shape | None, plan: Shape | None) -> Any:
    """The reference variant: the summary's, else the plan's."""
    return (summary or plan or {}).get("reference_variant")


def summary_metrics(summary: Shape | None) -> list[Any]:
    return _items(summary, "metrics")


@dataclass(frozen=True)
class SeedStats:
    """A summary row's numbers for one metric: mean, interval and the seeds' values."""

    mean: float | None
    low: float | None
    high: float | None
    values: tuple[float, ...]


def summary_stats(summary: Shape | None, variant: str, metric: str) -> SeedStats | None:
    """The summary's numbers for `variant` and `metric`, or None when it has none."""
    rows = {r.get("variant"): r for r in _items(summary, "rows") if isinstance(r, dict)}
    stats = rows.get(variant, {}).get("metrics")
    stat = stats.get(metric) if isinstance(stats, dict) else None
    if not isinstance(stat, dict):
        return None
    values = tuple(x for x in map(finite, _items(stat, "values")) if x is not None)
    return SeedStats(finite(stat.get("mean")), finite(stat.get("low")), finite(stat.get("high")),
                     values)  # fmt: skip


def summary_truth(summary: Shape | None, metric: str) -> float | None:
    """The ground truth's value of `metric` in the summary, or None."""
    truth = (summary or {}).get("ground_truth")
    if isinstance(truth, dict) and isinstance(truth.get("metrics"), dict):
        return finite(truth["metrics"].get(metric))
    return None


# ------------------------------------------------------------------------------------------
# log.jsonl


@dataclass(frozen=True)
class TrainingLog:
    """Per logged loss: (steps, values); and how many lines were not JSON objects."""

    series: dict[str, tuple[list[float], list[float]]]
    bad_lines: int


def read_training_log(path: Path) -> TrainingLog:
    """The losses a run's `log.jsonl` records (not step, epoch or timings); a line without a
    step counts by its line number. Raises OSError or UnicodeDecodeError for an unreadable file.
    """
    series: dict[str, tuple[list[float], list[float]]] = {}
    bad = 0
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            entry = None
        if not isinstance(entry, dict):
            bad += 1
            continue
        step = finite(entry.get("step"))
        for key, value in entry.items():
            if key not in ("step", "epoch", *TIMING_KEYS) and finite(value) is not None:
                steps, values = series.setdefault(str(key), ([], []))
                steps.append(step if step is not None else float(i))
                values.append(float(value))
    return TrainingLog(series, bad)


def training_log_path(result: Result) -> Path | None:
    """The `log.jsonl` beside the result's file, when there is one."""
    if not result.path:
        return None
    path = Path(result.path).parent / LOG_NAME
    return path if path.is_file() else None
