"""The plain view of a folder of results: a table per comparable group and a bar per result per
metric; and, for results on a paper-comparable protocol, the paper's published rows."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace

from p2pbench.metrics.keys import HIGHER, METRICS, RANKED
from p2pbench.records import AblationManifest
from p2pbench.reporting import charts
from p2pbench.reporting.report.embed import figure
from p2pbench.reporting.report.folder import Folder
from p2pbench.reporting.report.views import Block, Figure, Fragment, Note, PaperRow, PaperTable
from p2pbench.reporting.tables import (
    REFERENCES,
    TableError,
    build_table,
    load_reference,
    reference_names,
    render_table,
    variant_label,
)
from p2pbench.results import ComparableKey, Result


def label_results(results: Sequence[Result], folder: Folder) -> dict[int, str]:
    """A distinct, readable label per result (by `id`): its variant label, then its seed, then
    its file."""
    labels = {id(r): variant_label(r) for r in results}
    counts = Counter(labels.values())
    for r in results:
        if counts[labels[id(r)]] > 1 and r.provenance.get("seed") is not None:
            labels[id(r)] += f" (seed {r.provenance['seed']})"
    counts = Counter(labels.values())
    for r in results:
        if counts[labels[id(r)]] > 1:
            labels[id(r)] = folder.rel(r.path or "?")
    return labels


def comparable_groups(results: Sequence[Result]) -> list[list[Result]]:
    """Results that may share a table: same task, protocol (digest) and number of images."""
    groups: dict[ComparableKey, list[Result]] = {}
    for r in results:
        groups.setdefault(r.comparable_key, []).append(r)
    return list(groups.values())


def plain_section(
    folder: Folder, results: Sequence[Result], with_charts: bool = True
) -> tuple[list[Block], list[Figure]]:
    """The results tables (one per comparable group) and a bar chart per metric."""
    tables: list[Block] = []
    figures = []
    labels = label_results(results, folder)
    for group in comparable_groups(results):
        try:
            table = build_table(group)
        except TableError as err:  # e.g. two copies of one evaluation
            relabelled = [replace(r, variant=folder.rel(r.path or "?")) for r in group]
            try:
                table = build_table(relabelled)
            except TableError as err2:
                tables.append(Note(f"Not tabulated: {err2}"))
                continue
            tables.append(Note(f"One row per file: {err}"))
        tables.append(Fragment(render_table(table, "html")))
        first = group[0]
        for m in table.metrics if with_charts else ():
            key = METRICS[m]
            points = [charts.Point(labels[id(r)], r.value(m)) for r in group]
            better = "higher" if key.direction == HIGHER else "lower"
            png = charts.metric_chart(
                points,
                title=f"{key.label} {key.arrow} ({better} is better)",
                ylabel=key.display,
                bars=True,
            )
            where = f"{first.protocol_key}, {first.task}, {first.n_images} images"
            figures.append(figure(png, f"{key.label} per result ({where})"))
    return tables, figures


def paper_tables(results: Sequence[Result], plan: AblationManifest | None) -> list[Block]:
    """The paper's published rows, for results on a paper-comparable protocol that matches
    (only the table the plan names as `paper_table`, when it names one)."""
    comparable = {
        (r.protocol_key, r.task, r.n_images)
        for r in results
        if r.protocol.get("paper_comparable") is True
    }
    if not comparable:
        return []
    wanted = plan.paper_table if plan is not None else None
    out: list[Block] = []
    for name in reference_names():
        tables = json.loads((REFERENCES / f"{name}.json").read_text(encoding="utf-8"))["tables"]
        for table in tables:
            spec = f"{name}:{table}"
            if wanted is not None and wanted != spec:
                continue
            ref = load_reference(spec)
            if (ref.protocol_key, ref.task, ref.n_images) not in comparable:
                continue
            metrics = [m for m in RANKED if any(m in row for row in ref.rows)]
            rows = tuple(
                PaperRow(
                    str(row["name"]),
                    tuple(f"{row[m]:.{ref.decimals}f}" if m in row else "–" for m in metrics),
                )
                for row in ref.rows
            )
            out.append(
                PaperTable(
                    caption=f"Paper: {ref.title}; {ref.citation} "
                    f"(protocol {ref.protocol_key}, {ref.n_images} images)",
                    headers=tuple(f"{METRICS[m].label} {METRICS[m].arrow}" for m in metrics),
                    rows=rows,
                )
            )
    return out
