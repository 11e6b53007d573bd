"""Assembling the report: the folder's view models, rendered by the Jinja2 template.

The template and its CSS are package data (`p2pbench/reporting/templates/`), rendered with
autoescaping on: every string a view model holds is escaped once, by the template. Only the
tables p2pbench's own table writers render (already escaped) are inserted as they are.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Sequence
from dataclasses import replace
from functools import cache
from importlib import resources
from pathlib import Path

import jinja2

from p2pbench import __version__
from p2pbench.base import atomic_write_text
from p2pbench.errors import PathExistsError
from p2pbench.reporting.report.ablation_view import (
    ablation_charts,
    ground_truth,
    image_grid,
    missing_runs,
    runs,
    summary_table,
)
from p2pbench.reporting.report.curves import training_curves
from p2pbench.reporting.report.folder import Folder, scan
from p2pbench.reporting.report.plain_view import label_results, paper_tables, plain_section
from p2pbench.reporting.report.provenance import provenance
from p2pbench.reporting.report.shapes import (
    in_ablation,
    run_label,
    seed_text,
)
from p2pbench.reporting.report.views import Block, Figure, Header, Heading, Note, Page
from p2pbench.results import Result

TEMPLATES = resources.files("p2pbench.reporting") / "templates"
TEMPLATE = "report.html.j2"
STYLESHEET = "report.css"


def build_page(
    folder: str | os.PathLike[str],
    *,
    title: str | None = None,
    now: datetime.datetime | None = None,
) -> Page:
    """The view model of the report of `folder` (see `p2pbench.reporting.html`)."""
    found = scan(folder)
    created = (now or datetime.datetime.now(datetime.timezone.utc)).isoformat(timespec="seconds")
    title = (
        title or (found.plan.title if found.plan else "") or f"p2pbench report: {found.root.name}"
    )
    labels = label_results(found.results, found)
    tables: list[Block]
    figures: list[Figure]
    curve_runs: Sequence[Result]
    if found.plan is not None:
        ablation_runs = runs(found)
        labels.update({id(r): run_label(r) for r in found.results if in_ablation(r)})
        labels.update({id(r): f"{labels[id(r)]} (seed {seed_text(r)})" for r in ablation_runs})
        tables = _ablation_table(found, ablation_runs)
        tables += missing_runs(found) + paper_tables(found.results, found.plan)
        figures = ablation_charts(found)
        others = [r for r in found.results if not in_ablation(r)]
        if others:
            extra_tables, extra_figures = plain_section(found, others)
            tables += [Heading("Other results in the folder"), *extra_tables]
            figures += extra_figures
        curve_runs = ablation_runs
    else:
        tables, figures = plain_section(found, found.results)
        tables += paper_tables(found.results, None)
        curve_runs = found.results
    curves = training_curves(found, curve_runs, labels)
    grid = image_grid(found) if found.plan is not None else None
    prov = provenance(found, labels)
    header = Header(
        title=title,
        folder=str(found.root.absolute()),
        created=created,
        version=__version__,
        n_results=len(found.results),
        plan=None if found.plan is None else found.plan.plan,
    )
    return Page(
        header=header,
        problems=tuple(found.problems),  # complete only now: embedding and logs add to them
        skipped=tuple(found.skipped),
        tables=tuple(tables),
        charts=tuple(figures),
        curves=tuple(curves),
        grid=grid,
        provenance=prov,
    )


def _ablation_table(found: Folder, ablation_runs: Sequence[Result]) -> list[Block]:
    """The summary's table; without summary.json, one computed from the runs."""
    if found.summary is not None:
        return summary_table(found.summary)
    if found.summary_error is not None:
        return [Note(f"summary.json is incomplete ({found.summary_error})")]
    note: list[Block] = [Note("summary.json not found: table computed from the runs.")]
    grouped = [replace(r, variant=run_label(r)) for r in ablation_runs]
    truth = ground_truth(found)
    grouped += [replace(truth, variant="Ground truth")] if truth else []
    return note + (plain_section(found, grouped, with_charts=False)[0] if grouped else [])


@cache
def environment() -> jinja2.Environment:
    """The Jinja2 environment of the report's templates (autoescaping on)."""
    return jinja2.Environment(
        loader=jinja2.FunctionLoader(_template_source),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def _template_source(name: str) -> str:
    return (TEMPLATES / name).read_text(encoding="utf-8")


def render_page(page: Page) -> str:
    """`page` as one self-contained HTML document."""
    return environment().get_template(TEMPLATE).render(page=page, stylesheet=STYLESHEET)


def build_report(
    folder: str | os.PathLike[str],
    *,
    title: str | None = None,
    now: datetime.datetime | None = None,
) -> str:
    """The whole report of `folder` as one HTML string (see `p2pbench.reporting.html`)."""
    return render_page(build_page(folder, title=title, now=now))


def write_report(
    folder: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    title: str | None = None,
) -> Path:
    """Build the report of `folder` and write it to `out` atomically; refuse an existing `out`
    unless `overwrite`."""
    path = Path(out)
    if path.exists() and not overwrite:
        raise PathExistsError(f"{out} exists; pass --overwrite to replace it")
    atomic_write_text(path, build_report(folder, title=title))
    return path
