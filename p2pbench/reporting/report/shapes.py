"""What the report asks of an ablation's records, in one place.

`p2pbench ablate` writes `plan.json` (`AblationManifest`), `summary.json` (`AblationSummary`),
a `log.jsonl` beside each run (`TrainingLogLine`) and an `ablation` block with the saved
`samples` in each run's result; all are typed records of `p2pbench.records`, validated when
read. The functions here are the report's questions about them (which variant, which seed,
which files), so that a folder without a plan or summary reads as "none" and never crashes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from p2pbench.records import (
    AblationManifest,
    AblationSummary,
    FileRef,
    PlannedVariant,
    SampleFiles,
    SeedStats,
)
from p2pbench.records import (
    read_training_log as read_log_lines,
)
from p2pbench.results import Result

LOG_NAME = "log.jsonl"


# ------------------------------------------------------------------------------------------
# A run's result: its ablation block and saved samples


def in_ablation(result: Result) -> bool:
    """Whether the result carries an ablation record (a run or the ground truth)."""
    return result.ablation is not None


def run_variant(result: Result) -> str | None:
    """The variant name the result records (`ground-truth` for the real images), or None."""
    return result.ablation.variant if result.ablation is not None else None


def is_run(result: Result) -> bool:
    """A trained variant's run (not the ground truth, not a plain result)."""
    return result.ablation is not None and not result.ablation.is_ground_truth


def is_ground_truth(result: Result) -> bool:
    return result.ablation is not None and result.ablation.is_ground_truth


def run_label(result: Result) -> str:
    """The variant's label as the run records it."""
    return result.ablation.label if result.ablation is not None else str(result.variant)


def run_seed(result: Result) -> float:
    """The run's training seed (`Result.train_seed`) as a sort key (inf when unknown)."""
    seed = result.train_seed
    return math.inf if seed is None else float(seed)


def seed_text(result: Result) -> str:
    """The run's training seed for a label ("?" when unknown)."""
    seed = result.train_seed
    return "?" if seed is None else str(seed)


def result_samples(result: Result | None) -> dict[str, SampleFiles]:
    """The fixed val samples a result saved, by sample id."""
    if result is None or result.samples is None:
        return {}
    return {s.sample_id: s for s in result.samples}


def sample_file(sample: SampleFiles | None, role: str) -> FileRef | None:
    """The file of a sample's `role` (input, output, target), as recorded."""
    return sample.files.get(role) if sample is not None else None


def referenced_files(result: Result) -> list[tuple[str, FileRef]]:
    """(description, file) of every sample file the result records."""
    return [
        (f"sample {sid} {role} ({ref.path})", ref)
        for sid, sample in result_samples(result).items()
        for role, ref in sample.files.items()
    ]


# ------------------------------------------------------------------------------------------
# plan.json and summary.json


def plan_variants(plan: AblationManifest | None) -> list[PlannedVariant]:
    """The plan's variants, in its order."""
    return list(plan.variants) if plan is not None else []


def plan_run_ids(plan: AblationManifest | None) -> list[str]:
    return [r.run_id for r in plan.runs] if plan is not None else []


def reference_variant(summary: AblationSummary | None, plan: AblationManifest | None) -> str | None:
    """The reference variant: the summary's, else the plan's."""
    if summary is not None:
        return summary.reference_variant
    return plan.reference_variant if plan is not None else None


def summary_metrics(summary: AblationSummary | None) -> list[str]:
    return list(summary.metrics) if summary is not None else []


def summary_stats(summary: AblationSummary | None, variant: str, metric: str) -> SeedStats | None:
    """The summary's numbers for `variant` and `metric`, or None when it has none."""
    if summary is None:
        return None
    row = next((r for r in summary.rows if r.variant == variant), None)
    return row.metrics.get(metric) if row is not None else None


def summary_truth(summary: AblationSummary | None, metric: str) -> float | None:
    """The ground truth's value of `metric` in the summary, or None."""
    if summary is None or summary.ground_truth is None:
        return None
    return summary.ground_truth.get(metric)


# ------------------------------------------------------------------------------------------
# log.jsonl


@dataclass(frozen=True)
class TrainingLog:
    """Per logged loss: (steps, values); and how many lines were not log lines."""

    series: dict[str, tuple[list[float], list[float]]]
    bad_lines: int


def read_training_log(path: Path) -> TrainingLog:
    """The losses a run's `log.jsonl` records (not the epoch or timings). Raises OSError or
    UnicodeDecodeError for an unreadable file."""
    lines, bad = read_log_lines(path)
    series: dict[str, tuple[list[float], list[float]]] = {}
    for line in lines:
        for key, value in line.losses.items():
            steps, values = series.setdefault(key, ([], []))
            steps.append(float(line.step))
            values.append(value)
    return TrainingLog(series, bad)


def training_log_path(result: Result) -> Path | None:
    """The `log.jsonl` beside the result's file, when there is one."""
    if not result.path:
        return None
    path = Path(result.path).parent / LOG_NAME
    return path if path.is_file() else None
