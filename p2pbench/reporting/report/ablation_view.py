"""The ablation view of a folder `p2pbench ablate` wrote: its table, a chart per metric with
the seeds' values and intervals, and the image grid of the fixed val samples."""

from __future__ import annotations

import math

from p2pbench.metrics.keys import HIGHER, METRICS, RANKED
from p2pbench.metrics.uncertainty import seed_summary
from p2pbench.records import AblationSummary, FileRef, PlannedVariant
from p2pbench.reporting import charts
from p2pbench.reporting.ablation import render_summary
from p2pbench.reporting.report.embed import embed_file, figure
from p2pbench.reporting.report.folder import Folder
from p2pbench.reporting.report.shapes import (
    is_ground_truth,
    is_run,
    plan_run_ids,
    plan_variants,
    reference_variant,
    result_samples,
    run_label,
    run_seed,
    run_variant,
    sample_file,
    seed_text,
    summary_metrics,
    summary_stats,
    summary_truth,
)
from p2pbench.reporting.report.views import (
    Block,
    Embedded,
    Figure,
    Fragment,
    Grid,
    GridColumn,
    GridRow,
    Missing,
    Note,
)
from p2pbench.results import Result


def ablation_variants(folder: Folder) -> list[PlannedVariant]:
    """The plan's variants in its order, then any variant only the results name."""
    out = {v.name: v for v in plan_variants(folder.plan)}
    for r in folder.results:
        name = run_variant(r)
        if name is not None and is_run(r) and name not in out:
            out[name] = PlannedVariant(name, run_label(r))
    return list(out.values())


def runs(folder: Folder) -> list[Result]:
    """The ablation's runs, ordered by variant (plan order) then seed."""
    order = {v.name: i for i, v in enumerate(ablation_variants(folder))}
    found = [r for r in folder.results if is_run(r)]
    return sorted(found, key=lambda r: (order.get(run_variant(r), 1 << 30), run_seed(r)))


def ground_truth(folder: Folder) -> Result | None:
    return next((r for r in folder.results if is_ground_truth(r)), None)


def summary_table(summary: AblationSummary) -> list[Block]:
    """The ablation table from `p2pbench.reporting.ablation.render_summary`."""
    return [Fragment(render_summary(summary, "html"))]


def missing_runs(folder: Folder) -> list[Block]:
    """A note naming the plan's runs that have no result in the folder (yet)."""
    done = {r.run_id for r in folder.results}
    missing = [run for run in plan_run_ids(folder.plan) if run not in done]
    return [Note(f"Planned runs without a result: {', '.join(missing)}")] if missing else []


def ablation_points(folder: Folder, metric: str) -> list[charts.Point]:
    """One point per variant: the summary's numbers, else computed from the runs."""
    ref = reference_variant(folder.summary, folder.plan)
    all_runs = runs(folder)
    points = []
    for v in ablation_variants(folder):
        values = tuple(
            x for r in all_runs if run_variant(r) == v.name and (x := r.value(metric)) is not None
        )
        stat = summary_stats(folder.summary, v.name, metric)
        if stat is not None:
            point = charts.Point(
                v.label, stat.mean, stat.low, stat.high, stat.values or values, v.name == ref
            )
        elif values and all(map(math.isfinite, values)):
            s = seed_summary(values)
            point = charts.Point(v.label, s.mean, s.low, s.high, values, v.name == ref)
        else:  # no number to summarise: the chart shows n/a
            point = charts.Point(v.label, None, None, None, values, v.name == ref)
        points.append(point)
    return points


def ablation_metrics(folder: Folder) -> list[str]:
    """The summary's ranked metrics, else every ranked metric a run has."""
    listed = [m for m in summary_metrics(folder.summary) if m in RANKED]
    return listed or [m for m in RANKED if any(r.value(m) is not None for r in runs(folder))]


def ablation_charts(folder: Folder) -> list[Figure]:
    """A chart per metric: each variant's mean, its interval and its seeds; the ground truth as
    a line."""
    truth = ground_truth(folder)
    out = []
    for m in ablation_metrics(folder):
        key = METRICS[m]
        line = None
        value = summary_truth(folder.summary, m)
        if value is None and truth is not None:
            value = truth.value(m)
        if value is not None:
            line = charts.Line(value, "ground truth")
        better = "higher" if key.direction == HIGHER else "lower"
        png = charts.metric_chart(
            ablation_points(folder, m),
            title=f"{key.label} {key.arrow} ({better} is better)",
            ylabel=key.display,
            reference=line,
        )
        caption = (
            f"{key.label} per variant: mean with its 95% t-interval over seeds, dots the seeds; "
            "red: the reference variant"
        )
        out.append(figure(png, caption))
    return out


def image_grid(folder: Folder) -> Grid | None:
    """Rows: the ground truth's sample ids; columns: input, each variant (lowest seed), target."""
    truth = ground_truth(folder)
    variants = ablation_variants(folder)
    first: dict[str, Result] = {}
    for r in runs(folder):  # sorted by seed: the first of a variant is its lowest seed
        first.setdefault(str(run_variant(r)), r)
    truth_samples = result_samples(truth)
    ids = list(truth_samples) or list(
        dict.fromkeys(sid for r in first.values() for sid in result_samples(r))
    )
    if not ids:
        return None
    columns = [GridColumn("Input")]
    for v in variants:
        seed = seed_text(first[v.name]) if v.name in first else None
        columns.append(GridColumn(v.label, seed))
    columns.append(GridColumn("Target"))
    rows = []
    for sid in ids:
        sample = truth_samples.get(sid)
        cells = [_cell(folder, truth, sample_file(sample, "input"), f"{sid} input")]
        for v in variants:
            run = first.get(v.name)
            output = sample_file(result_samples(run).get(sid), "output")
            cells.append(_cell(folder, run, output, f"{sid} {v.label}"))
        cells.append(_cell(folder, truth, sample_file(sample, "target"), f"{sid} target"))
        rows.append(GridRow(sid, tuple(cells)))
    return Grid(tuple(columns), tuple(rows))


def _cell(folder: Folder, result: Result | None, ref: FileRef | None, alt: str) -> Embedded:
    if result is None:
        folder.problems.append(f"missing: no result for {alt}")
        return Missing(f"missing: no result for {alt}")
    return embed_file(folder, result, ref, alt)
