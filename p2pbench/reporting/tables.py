"""Paper-style tables from result files: variants × metrics, mean ± std over seeds.

A table is built from result files only (`p2pbench.results.Result`). Results of one variant
(several seeds, or several checkpoints of the same variant) become one row: mean ± sample std
(ddof=1) and their number n. Results of different tasks, protocols or numbers of images never
share a table. The paper's published numbers (package data, `reporting/reference/<paper>.json`)
are shown beside ours only when our results use the protocol, task and number of images the
paper used.

A result's variant label (the row) is, in order: the value at `group_by` (a dotted key path such
as `source.name`); the result's own `variant` string; for a trainer's run config recorded in
`source.run`, "generator + discriminator, loss"; "Ground truth" for the real photos; the file
stem without a trailing seed marker (`l1cgan.seed1.json` → `l1cgan`); the generator's name.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd

from p2pbench.errors import BadInputError
from p2pbench.metrics.keys import HIGHER, METRICS, RANKED
from p2pbench.reporting.formats import Cell, TextTable, write_table
from p2pbench.results import ComparableKey, Result, read_result

REFERENCES = resources.files("p2pbench.reporting") / "reference"
"""The paper's tables, as package data (read the same from a wheel and from the source)."""
_SEED_SUFFIX = re.compile(r"[._-]seed[_-]?\d+$")


class TableError(BadInputError, ValueError):
    """The results cannot be tabulated together, or an option does not fit them."""


@dataclass(frozen=True)
class Reference:
    """One published table: rows of metric values, and where the numbers come from."""

    name: str
    citation: str
    protocol_key: str
    task: str
    n_images: int
    title: str
    rows: tuple[dict[str, Any], ...]
    decimals: int


@dataclass(frozen=True)
class Table:
    """A table ready to render.

    `frame` has one row per variant: `variant`, `origin` ("ours" or "paper"), `n`, and for each
    metric `<metric>` (the mean) and `<metric>_std` (NaN for n = 1 and paper rows).
    """

    frame: pd.DataFrame
    metrics: tuple[str, ...]
    directions: dict[str, str]
    caption: str
    notes: tuple[str, ...] = ()
    decimals: int = 3
    reference_decimals: int = 2


def load_results(paths: Iterable[str | os.PathLike[str]]) -> list[Result]:
    """Read and validate result files (each keeps its `path`)."""
    return [read_result(path) for path in paths]


def variant_label(result: Result, group_by: str | None = None) -> str:
    """The row a result belongs to (see the module docstring for the rules)."""
    if group_by:
        value: Any = result.to_dict()
        for part in group_by.split("."):
            if not isinstance(value, dict) or part not in value:
                keys = sorted(value) if isinstance(value, dict) else type(value).__name__
                raise TableError(
                    f"{_name(result)} has no key {group_by!r} (at {part!r} found {keys}); "
                    "--group-by needs a key path every result has, e.g. source.name"
                )
            value = value[part]
        return value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    source = result.source
    if result.variant is not None:
        return result.variant
    if isinstance(source.get("run"), dict):
        run = source["run"]
        return f"{run.get('generator')} + {run.get('discriminator')}, {run.get('loss')}"
    if source.get("kind") == "real":
        return "Ground truth"
    if result.path is not None:
        stem = Path(result.path).stem
        return _SEED_SUFFIX.sub("", stem) or stem
    return str(source.get("name") or source.get("path") or source.get("kind"))


def load_reference(spec: str) -> Reference:
    """`NAME:TABLE`, NAME a reference shipped with p2pbench (`reference_names()`) or a JSON
    file's path."""
    name, _, table = spec.rpartition(":")
    path: Any = Path(name) if name.endswith(".json") else REFERENCES / f"{name}.json"
    known = reference_names()
    if not name or not path.is_file():
        raise TableError(
            f"reference {spec!r}: expected NAME:TABLE with NAME one of {known} or a .json "
            f"file, e.g. pix2pix-2017:table3; {path} not found"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        tables = data["tables"]
        if table not in tables:
            raise TableError(f"reference {spec!r}: no table {table!r}; tables: {sorted(tables)}")
        entry = tables[table]
        for row in entry["rows"]:
            bad = [k for k, v in row.items() if k != "name" and not isinstance(v, (int, float))]
            if not isinstance(row["name"], str) or set(row) - {"name", *RANKED} or bad:
                raise TypeError(f"row {row}: expected a name and numbers for {list(RANKED)}")
        return Reference(
            name=f"{data['paper']}:{table}",
            citation=data["citation"],
            protocol_key=entry.get("protocol_key", data["protocol_key"]),
            task=entry["task"],
            n_images=int(data["n_images"]),
            title=entry["title"],
            rows=tuple(entry["rows"]),
            decimals=int(data.get("decimals", 2)),
        )
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise TableError(f"{path}: not a valid reference file ({type(e).__name__}: {e})") from None


def reference_names() -> list[str]:
    """The published tables shipped with p2pbench (`NAME` of `--reference NAME:TABLE`)."""
    return sorted(p.name[: -len(".json")] for p in REFERENCES.iterdir() if p.name.endswith(".json"))


def build_table(
    results: Sequence[Result],
    reference: str | Reference | None = None,
    group_by: str | None = None,
    metrics: Sequence[str] | None = None,
) -> Table:
    """Group results into variant rows; add the reference's rows when they are comparable."""
    if not results:
        raise TableError("no results to tabulate")
    _require_one_protocol(results)
    metrics = _select_metrics(results, metrics)
    rows = []
    seen: dict[tuple[Any, ...], str] = {}
    for r in results:
        label = variant_label(r, group_by)
        identity = (label, *_evaluation_identity(r))
        if identity in seen:
            raise TableError(
                f"{_name(r)} and {seen[identity]} are the same evaluation of variant {label!r} "
                "(same source and seed): counting both would inflate n; give one of them"
            )
        seen[identity] = _name(r)
        rows.append({"variant": label, **{m: _metric(r, m) for m in metrics}})
    ours = _aggregate(pd.DataFrame(rows), metrics)
    ref = load_reference(reference) if isinstance(reference, str) else reference
    notes: list[str] = []
    first = results[0]
    if ref is not None:
        found = (first.protocol_key, first.task, first.n_images)
        if found == (ref.protocol_key, ref.task, ref.n_images):
            paper = [
                {"variant": row["name"], "origin": "paper", "n": math.nan}
                | {m: float(row.get(m, math.nan)) for m in metrics}
                for row in ref.rows
            ]
            ours = pd.concat([ours, pd.DataFrame(paper)], ignore_index=True)
        else:
            notes.append(
                f"paper rows not shown: {ref.name} used protocol {ref.protocol_key}, task "
                f"{ref.task}, {ref.n_images} images; these results: {found[0]}, {found[1]}, "
                f"{found[2]} images"
            )
    ours["n"] = ours["n"].astype("Int64")
    paper_shown = bool((ours["origin"] == "paper").any())
    return Table(
        frame=ours,
        metrics=tuple(metrics),
        directions={m: str(METRICS[m].direction) for m in metrics},
        caption=_caption(results, ref if paper_shown else None),
        notes=tuple(notes),
        reference_decimals=ref.decimals if ref is not None else 2,
    )


def _aggregate(df: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    grouped = df.groupby("variant", sort=False)
    mean = grouped[list(metrics)].mean()
    std = grouped[list(metrics)].std(ddof=1).add_suffix("_std")
    n = grouped.size().rename("n")
    mean = mean.where(grouped[list(metrics)].count().eq(n, axis=0))  # metric missing in a run
    out = pd.concat([n, mean, std], axis=1).reset_index()
    out.insert(1, "origin", "ours")
    return out


def _require_one_protocol(results: Sequence[Result]) -> None:
    groups: dict[ComparableKey, list[str]] = {}
    for r in results:
        groups.setdefault(r.comparable_key, []).append(_name(r))
    if len(groups) > 1:
        listing = "; ".join(
            f"{key.describe()}: {', '.join(files)}" for key, files in groups.items()
        )
        raise TableError(
            f"these results are not comparable and cannot share a table: {listing}. "
            "Tabulate each group separately (pass only its files)"
        )


def _select_metrics(results: Sequence[Result], wanted: Sequence[str] | None) -> list[str]:
    # a metric recorded as unavailable everywhere (e.g. FID without weights) gets no column
    present = [m for m in RANKED if any(r.value(m) is not None for r in results)]
    if not wanted:
        if not present:
            raise TableError(f"the results hold none of the metrics {', '.join(RANKED)}")
        return present
    unknown = [m for m in wanted if m not in present]
    if unknown:
        raise TableError(
            f"--metrics {', '.join(unknown)}: not in these results; present: {', '.join(present)}"
        )
    return list(dict.fromkeys(wanted))


def _metric(result: Result, metric: str) -> float:
    value = result.value(metric)
    return math.nan if value is None else value


def _evaluation_identity(result: Result) -> tuple[Any, ...]:
    """What makes two evaluations of a variant the same one (and so the same numbers)."""
    source, seed = result.source, result.provenance.get("seed")
    if source.get("kind") == "generator":
        return ("generator", source.get("sha256"), seed, source.get("test_time_mode"))
    return (source.get("kind"), source.get("path"))


def _name(result: Result) -> str:
    return result.path or "a result"


def _caption(results: Sequence[Result], ref: Reference | None) -> str:
    first = results[0]
    protocol = first.protocol
    limit = f" (limit {first.limit})" if first.limit else ""
    versions = sorted({str(r.provenance.get("versions", {}).get("p2pbench")) for r in results})
    segmenters = sorted(
        {
            f"{s.get('name')} (sha256 {str(s.get('sha256'))[:12]})"
            for s in (r.provenance.get("segmenter") or {} for r in results)
        }
    )
    text = (
        f"{first.task} on protocol {protocol['key']} (digest {protocol['digest'][:12]}), "
        f"{first.n_images} images{limit}; mean ± std over n evaluations (seeds or "
        f"checkpoints); bold: our best per column. p2pbench {', '.join(versions)}; segmenter "
        f"{', '.join(segmenters)}."
    )
    if ref is not None:
        text += f" Paper rows: {ref.title}; {ref.citation}."
    return text


# --------------------------------------------------------------------------- as text


def render_table(table: Table, fmt: str) -> str:
    """`table` as text in `fmt` (`p2pbench.reporting.formats.FORMATS`)."""
    return write_table(text_table(table), fmt)


def best_flags(table: Table) -> dict[str, list[bool]]:
    """Per metric, which rows are bold: the best of ours at the displayed precision."""
    frame, flags = table.frame, {}
    ours = frame["origin"] == "ours"
    for m in table.metrics:
        shown = frame[m].round(table.decimals)
        best = shown[ours].max() if table.directions[m] == HIGHER else shown[ours].min()
        flags[m] = (
            [bool(f) for f in ours & shown.eq(best)] if pd.notna(best) else [False] * len(frame)
        )
    return flags


def text_table(table: Table) -> TextTable:
    """Our rows as `mean ± std` (std only when n > 1) with `Table.decimals` digits, the paper's
    rows at their published precision; per metric column the best of our rows is bold (ties
    at the displayed precision all bold); the paper's rows are context and never bold. CSV
    writes the unformatted means, stds and n."""
    flags = best_flags(table)
    with_origin = bool((table.frame["origin"] == "paper").any())
    rows = []
    for i, row in enumerate(table.frame.to_dict("records")):
        paper = row["origin"] == "paper"
        digits = table.reference_decimals if paper else table.decimals
        cells = [Cell(str(row["variant"]))]
        cells += [Cell(row["origin"])] if with_origin else []
        cells.append(Cell("" if paper else str(row["n"])))
        for m in table.metrics:
            text = _value(row[m], row.get(f"{m}_std", math.nan), digits)
            cells.append(Cell(text, bold=flags[m][i]))
        rows.append(tuple(cells))
    labels = [f"{METRICS[m].label} {METRICS[m].arrow}" for m in table.metrics]
    columns = ["variant", "origin", "n", *table.metrics, *(f"{m}_std" for m in table.metrics)]
    return TextTable(
        caption=table.caption,
        header=("variant", *(["origin"] if with_origin else []), "n", *labels),
        rows=tuple(rows),
        data=table.frame.reindex(columns=columns),
        notes=table.notes,
        groups=tuple(0 if o == "ours" else 1 for o in table.frame["origin"]),
        text_columns=2 if with_origin else 1,
        html_class="dataframe",
    )


def _value(mean: float, std: float, digits: int) -> str:
    if pd.isna(mean):
        return "–"
    return f"{mean:.{digits}f}" + ("" if pd.isna(std) else f" ± {std:.{digits}f}")
