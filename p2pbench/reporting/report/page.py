"""One self-contained HTML report of a folder of p2pbench results (`p2pbench report`).

`build_report(folder)` reads every `*.json` under `folder` (recursively) that
`p2pbench.results.read_result` accepts; other JSON files are listed as skipped, never silently
dropped. A folder written by `p2pbench ablate` (a `plan.json` of format `p2pbench-ablation` at
its root) gets the ablation view: its `summary.json` table, a chart per metric with the seeds'
values and intervals, the runs' training curves (`log.jsonl` beside each result) and the image
grid of the fixed val samples (input, one column per variant, target). Any other folder gets the
plain results table (`p2pbench.reporting.formats`, HTML) and a bar per result per metric. The
published tables of a paper (`p2pbench.reporting.tables.REFERENCES`) are shown for results on
a paper-comparable protocol with the paper's protocol, task and number of images (only the
table a plan names as `paper_table`, e.g. `pix2pix-2017:table3`, when it names one).

The page needs nothing but itself: images and charts are PNG data URIs, the CSS is inline, there
is no script and no external address. Every file a result references is checked against its
recorded sha256 (and must lie inside `folder`) before it is embedded; a missing or changed file
becomes a visible `missing/changed: PATH` cell and is listed. Every string read from a file is
HTML-escaped.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import html
import io
import json
import math
import os
import shlex
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from PIL import Image

from p2pbench import __version__
from p2pbench.base import atomic_write_text
from p2pbench.metrics.keys import HIGHER, METRICS, RANKED
from p2pbench.reporting import charts
from p2pbench.reporting.formats import render_table
from p2pbench.reporting.tables import (
    REFERENCES,
    TableError,
    build_table,
    load_reference,
    reference_names,
    variant_label,
)
from p2pbench.results import Result, ResultError, read_result
from p2pbench.train import TIMING_KEYS

ABLATION_FORMAT = "p2pbench-ablation"
SUMMARY_FORMAT = "p2pbench-ablation-summary"
GROUND_TRUTH = "ground-truth"
LOG_NAME = "log.jsonl"
THUMBNAIL = 256  # longest side of an embedded sample image, in pixels
DECIMALS = 3
_EXCERPT = 400  # characters of a long value shown in the provenance section


class ReportError(ValueError):
    """The folder cannot be reported on (missing, or holding no result)."""


def e(value: Any) -> str:
    """Any value from a file, as HTML text."""
    return html.escape(str(value), quote=True)


# ------------------------------------------------------------------------------------------
# Reading the folder


@dataclass
class Folder:
    """What a folder holds: its results, the ablation files, and what could not be used."""

    root: Path
    results: list[Result]
    skipped: list[tuple[str, str]]  # (path relative to root, why)
    plan: dict[str, Any] | None = None
    summary: dict[str, Any] | None = None
    problems: list[str] = field(default_factory=list)  # missing/changed files, bad log lines

    def rel(self, path: str | os.PathLike[str]) -> str:
        """`path` relative to the folder when it lies inside, else as given."""
        for p, root in (
            (Path(path).absolute(), self.root.absolute()),
            (Path(path).resolve(), self.root.resolve()),
        ):
            if p.is_relative_to(root):
                return p.relative_to(root).as_posix()
        return str(path)


def scan(folder: str | os.PathLike[str]) -> Folder:
    """Every result under `folder`; the ablation plan and summary at its root, if any."""
    root = Path(folder)
    if not root.is_dir():
        raise ReportError(f"{folder}: no such folder")
    found = Folder(root=root, results=[], skipped=[])
    for path in sorted(root.rglob("*.json")):
        if not path.is_file():
            continue
        rel = found.rel(path)
        try:
            found.results.append(read_result(path))
            continue
        except ResultError as err:
            why = str(err).removeprefix(f"{path}: ").removeprefix(f"{path} ")
        data = _json_object(path)
        kind = data.get("format") if data is not None else None
        if kind in (ABLATION_FORMAT, SUMMARY_FORMAT) and path.parent == root:
            if kind == ABLATION_FORMAT:
                found.plan = data
            else:
                found.summary = data
        elif kind in (ABLATION_FORMAT, SUMMARY_FORMAT):
            found.skipped.append(
                (rel, f"{kind} file of a sub-folder: report on {found.rel(path.parent)} itself")
            )
        elif path.name == "config.json" and (path.parent / "checkpoint.pt").is_file():
            continue  # a training run's configuration, beside its checkpoint: known, not a result
        else:
            found.skipped.append((rel, why))
    if found.plan is None and found.summary is not None:
        found.skipped.append(("summary.json", "ablation summary without plan.json: not used"))
        found.summary = None
    if not found.results:
        listing = "; ".join(f"{p} ({why})" for p, why in found.skipped[:5])
        raise ReportError(
            f"{folder} holds no p2pbench result (*.json written by `p2pbench eval --out` or "
            f"`p2pbench ablate`)" + (f"; skipped: {listing}" if listing else "")
        )
    return found


def _json_object(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _ablation(result: Result) -> dict[str, Any]:
    info = result.extra.get("ablation")
    return info if isinstance(info, dict) else {}


def _num(value: Any) -> float | None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    return float(value) if ok and math.isfinite(value) else None


def _fmt(value: Any, signed: bool = False) -> str:
    v = _num(value)
    if v is None:
        return "–"
    return f"{v:+.{DECIMALS}f}" if signed else f"{v:.{DECIMALS}f}"


# ------------------------------------------------------------------------------------------
# Embedding files


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _img(png: bytes, alt: str, cls: str = "") -> str:
    klass = f' class="{cls}"' if cls else ""
    return f'<img{klass} src="{data_uri(png)}" alt="{e(alt)}">'


def embed_file(folder: Folder, result: Result, ref: Any, alt: str) -> str:
    """An `<img>` of a file a result references, checked against its sha256; else a placeholder
    cell's content (and the problem listed)."""
    base = Path(result.path).parent if result.path else folder.root
    shown = str(ref.get("path")) if isinstance(ref, dict) else "(no path recorded)"
    try:
        if not isinstance(ref, dict) or not isinstance(ref.get("path"), str):
            raise ValueError("the result records no path for it")
        path = (base / ref["path"]).resolve()
        shown = folder.rel(path)
        if not path.is_relative_to(folder.root.resolve()):
            raise ValueError("it lies outside the reported folder")
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != ref.get("sha256"):
            raise ValueError("its sha256 differs from the one recorded")
        png = _as_png(data)
    except (OSError, ValueError, Image.DecompressionBombError) as err:
        why = "file not found" if isinstance(err, FileNotFoundError) else str(err)
        folder.problems.append(f"missing/changed: {shown} ({why})")
        return f'<span class="missing" title="{e(why)}">missing/changed: {e(shown)}</span>'
    return _img(png, alt)


def _as_png(data: bytes) -> bytes:
    """An image file re-encoded as PNG, at most THUMBNAIL pixels a side, without metadata."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            alpha = "A" in im.getbands() or "transparency" in im.info
            im = im.convert("RGBA" if alpha else "L" if im.mode in ("1", "L") else "RGB")
    except (OSError, SyntaxError) as err:
        raise ValueError(f"not a readable image ({err})") from None
    im.info = {}  # no text chunks or profiles carried over
    im.thumbnail((THUMBNAIL, THUMBNAIL))
    buf = io.BytesIO()
    im.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


# ------------------------------------------------------------------------------------------
# The ablation view


@dataclass(frozen=True)
class Variant:
    name: str
    label: str


def ablation_variants(folder: Folder) -> list[Variant]:
    """The plan's variants in its order, then any variant only the results name."""
    out: dict[str, Variant] = {}
    for v in (folder.plan or {}).get("variants") or []:
        if isinstance(v, dict) and isinstance(v.get("name"), str):
            out[v["name"]] = Variant(v["name"], str(v.get("label") or v["name"]))
    for r in folder.results:
        info = _ablation(r)
        name = info.get("variant")
        if isinstance(name, str) and name != GROUND_TRUTH and name not in out:
            out[name] = Variant(name, str(info.get("label") or name))
    return list(out.values())


def _runs(folder: Folder) -> list[Result]:
    """The ablation's runs, ordered by variant (plan order) then seed."""
    order = {v.name: i for i, v in enumerate(ablation_variants(folder))}
    runs = [r for r in folder.results if _ablation(r).get("variant") not in (None, GROUND_TRUTH)]
    return sorted(runs, key=lambda r: (order.get(_ablation(r)["variant"], 1 << 30), _seed(r)))


def _seed(result: Result) -> float:
    seed = _ablation(result).get("seed", result.provenance.get("seed"))
    return float(seed) if _num(seed) is not None else math.inf


def _ground_truth(folder: Folder) -> Result | None:
    for r in folder.results:
        if _ablation(r).get("variant") == GROUND_TRUTH:
            return r
    return None


def summary_table(summary: dict[str, Any]) -> str:
    """The ablation table: `p2pbench.reporting.ablation.render_summary` when it exists."""
    try:
        from p2pbench.reporting.ablation import render_summary
    except ImportError as err:  # not written yet (a missing dependency of it is a bug)
        if isinstance(err, ModuleNotFoundError) and err.name != "p2pbench.reporting.ablation":
            raise
        return render_summary_html(summary)
    try:
        return str(render_summary(summary, "html"))
    except (KeyError, TypeError, ValueError, AttributeError) as err:  # a malformed summary.json
        note = f"<p class='note'>summary.json is incomplete ({e(type(err).__name__)}: {e(err)})</p>"
        return note + render_summary_html(summary)


def render_summary_html(summary: dict[str, Any]) -> str:
    """summary.json as an HTML table: mean ± std over seeds, 95% t-interval, Δ vs reference."""
    metrics = [m for m in summary.get("metrics") or [] if m in METRICS]
    rows = [r for r in summary.get("rows") or [] if isinstance(r, dict)]
    ref = summary.get("reference_variant")
    ref_label = next((r.get("label") for r in rows if r.get("variant") == ref), ref)
    best = _best_means(rows, metrics)
    head = "".join(f"<th>{e(METRICS[m].label)} {METRICS[m].arrow}</th>" for m in metrics)
    delta_head = "".join(f"<th>Δ {e(METRICS[m].label)}</th>" for m in metrics)
    body = []
    for row in rows:
        stats = row.get("metrics") if isinstance(row.get("metrics"), dict) else {}
        versus = row.get("vs_reference") if isinstance(row.get("vs_reference"), dict) else None
        cells = [f"<th scope='row'>{e(row.get('label') or row.get('variant'))}</th>"]
        cells.append(f"<td>{e(row.get('n', len(row.get('seeds') or [])))}</td>")
        for m in metrics:
            s = stats.get(m) if isinstance(stats.get(m), dict) else {}
            text = f"{_fmt(s.get('mean'))} ± {_fmt(s.get('std'))}"
            text = f"<b>{text}</b>" if best.get(m) == _num(s.get("mean")) else text
            ci = f"[{_fmt(s.get('low'))}, {_fmt(s.get('high'))}]"
            cells.append(f"<td>{text}<div class='ci'>95% {ci}</div></td>")
        for m in metrics:
            cells.append(f"<td>{_delta_cell(versus, m, row.get('variant') == ref)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    truth = summary.get("ground_truth")
    if isinstance(truth, dict) and isinstance(truth.get("metrics"), dict):
        values = "".join(f"<td>{_fmt(truth['metrics'].get(m))}</td>" for m in metrics)
        blank = "<td></td>" * len(metrics)
        label = truth.get("label") or "Ground truth"
        body.append(
            f"<tr class='truth'><th scope='row'>{e(label)}</th><td></td>{values}{blank}</tr>"
        )
    boot = summary.get("bootstrap") if isinstance(summary.get("bootstrap"), dict) else {}
    level = _num(boot.get("level"))
    level_text = f"{level * 100:g}%" if level is not None and level <= 1 else f"{level or 95:g}%"
    caption = (
        f"{e(summary.get('title') or summary.get('plan') or 'Ablation')} on protocol "
        f"{e(summary.get('protocol'))}: mean ± std over seeds (n), 95% t-interval below; "
        f"Δ: difference of means vs {e(ref_label)} with its {e(level_text)} bootstrap interval "
        f"({e(boot.get('draws', '?'))} draws, seed {e(boot.get('seed', '?'))}); "
        "<span class='sig'>*</span> the interval excludes 0. Bold: the best mean per metric."
    )
    missing = summary.get("missing_runs") or []
    note = (
        f"<p class='note'>Missing runs (not in the table): {e(', '.join(map(str, missing)))}</p>"
        if missing
        else ""
    )
    return (
        f"<table class='summary'><caption>{caption}</caption><thead><tr><th>variant</th>"
        f"<th>n</th>{head}{delta_head}</tr></thead><tbody>{''.join(body)}</tbody></table>{note}"
    )


def _best_means(rows: list[dict[str, Any]], metrics: list[str]) -> dict[str, float]:
    best = {}
    for m in metrics:
        means = [
            _num((r.get("metrics") or {}).get(m, {}).get("mean"))
            for r in rows
            if isinstance((r.get("metrics") or {}).get(m), dict)
        ]
        means = [v for v in means if v is not None]
        if means:
            best[m] = max(means) if METRICS[m].direction == HIGHER else min(means)
    return best


def _delta_cell(versus: dict[str, Any] | None, metric: str, is_reference: bool) -> str:
    if is_reference:
        return "<span class='ci'>reference</span>"
    d = versus.get(metric) if versus else None
    if not isinstance(d, dict):
        return "–"
    sig = "<span class='sig'>*</span>" if d.get("significant") is True else ""
    ci = f"[{_fmt(d.get('low'), True)}, {_fmt(d.get('high'), True)}]"
    return f"{_fmt(d.get('observed'), True)}{sig}<div class='ci'>{ci}</div>"


def _t_interval(values: Sequence[float]) -> tuple[float | None, float | None]:
    if len(values) < 2:
        return None, None
    from scipy import stats  # only for folders without summary.json

    mean, sd = statistics.fmean(values), statistics.stdev(values)
    half = float(stats.t.ppf(0.975, len(values) - 1)) * sd / math.sqrt(len(values))
    return mean - half, mean + half


def ablation_points(folder: Folder, metric: str) -> list[charts.Point]:
    """One point per variant: the summary's numbers, else computed from the runs."""
    summary_rows = {
        r.get("variant"): r for r in (folder.summary or {}).get("rows") or [] if isinstance(r, dict)
    }
    ref = (folder.summary or folder.plan or {}).get("reference_variant")
    runs = _runs(folder)
    points = []
    for v in ablation_variants(folder):
        values = tuple(
            x
            for r in runs
            if _ablation(r).get("variant") == v.name and (x := r.value(metric)) is not None
        )
        stat = (summary_rows.get(v.name) or {}).get("metrics") or {}
        stat = stat.get(metric) if isinstance(stat.get(metric), dict) else None
        if stat is not None:
            seeds = tuple(x for x in map(_num, stat.get("values") or []) if x is not None)
            point = charts.Point(
                v.label, _num(stat.get("mean")), _num(stat.get("low")), _num(stat.get("high")),
                seeds or values, v.name == ref,
            )  # fmt: skip
        else:
            low, high = _t_interval(values)
            mean = statistics.fmean(values) if values else None
            point = charts.Point(v.label, mean, low, high, values, v.name == ref)
        points.append(point)
    return points


def _ablation_metrics(folder: Folder) -> list[str]:
    listed = [m for m in (folder.summary or {}).get("metrics") or [] if m in RANKED]
    return listed or [m for m in RANKED if any(r.value(m) is not None for r in _runs(folder))]


def ablation_charts(folder: Folder) -> list[str]:
    truth = _ground_truth(folder)
    summary_truth = (folder.summary or {}).get("ground_truth")
    out = []
    for m in _ablation_metrics(folder):
        key = METRICS[m]
        line = None
        value = None
        if isinstance(summary_truth, dict) and isinstance(summary_truth.get("metrics"), dict):
            value = _num(summary_truth["metrics"].get(m))
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
        out.append(_figure(png, caption))
    return out


def image_grid(folder: Folder) -> str:
    """Rows: the ground truth's sample ids; columns: input, each variant (lowest seed), target."""
    truth = _ground_truth(folder)
    variants = ablation_variants(folder)
    first: dict[str, Result] = {}
    for r in _runs(folder):  # sorted by seed: the first of a variant is its lowest seed
        first.setdefault(_ablation(r)["variant"], r)
    truth_samples = _samples(truth)
    ids = list(truth_samples) or list(
        dict.fromkeys(sid for r in first.values() for sid in _samples(r))
    )
    if not ids:
        return ""
    head = "<th>sample</th><th>Input</th>"
    for v in variants:
        seed = _ablation(first[v.name]).get("seed") if v.name in first else None
        sub = f"<div class='ci'>seed {e(seed)}</div>" if seed is not None else ""
        head += f"<th>{e(v.label)}{sub}</th>"
    head += "<th>Target</th>"
    rows = []
    for sid in ids:
        sample = truth_samples.get(sid, {})
        cells = [f"<th scope='row'>{e(sid)}</th>"]
        cells.append(_grid_cell(folder, truth, sample.get("input"), f"{sid} input"))
        for v in variants:
            run = first.get(v.name)
            output = _samples(run).get(sid, {}).get("output")
            cells.append(_grid_cell(folder, run, output, f"{sid} {v.label}"))
        cells.append(_grid_cell(folder, truth, sample.get("target"), f"{sid} target"))
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (
        f"<table class='grid'><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _samples(result: Result | None) -> dict[str, dict[str, Any]]:
    samples = result.extra.get("samples") if result is not None else None
    return {
        str(s["sample_id"]): s
        for s in (samples if isinstance(samples, list) else [])
        if isinstance(s, dict) and "sample_id" in s
    }


def _grid_cell(folder: Folder, result: Result | None, ref: Any, alt: str) -> str:
    if result is None:
        folder.problems.append(f"missing: no result for {alt}")
        return f"<td class='img'><span class='missing'>missing: no result for {e(alt)}</span></td>"
    return f"<td class='img'>{embed_file(folder, result, ref, alt)}</td>"


# ------------------------------------------------------------------------------------------
# The plain view


def _label_results(results: Sequence[Result], folder: Folder) -> dict[int, str]:
    """A distinct, readable label per result: its variant label, then its seed, then its file."""
    labels = {id(r): variant_label(r) for r in results}
    counts = _counts(labels.values())
    for r in results:
        if counts[labels[id(r)]] > 1 and r.provenance.get("seed") is not None:
            labels[id(r)] += f" (seed {r.provenance['seed']})"
    counts = _counts(labels.values())
    for r in results:
        if counts[labels[id(r)]] > 1:
            labels[id(r)] = folder.rel(r.path or "?")
    return labels


def _counts(items: Iterable[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for item in items:
        out[item] = out.get(item, 0) + 1
    return out


def _groups(results: Sequence[Result]) -> list[list[Result]]:
    """Results that may share a table: same task, protocol (digest) and number of images."""
    groups: dict[tuple[Any, ...], list[Result]] = {}
    for r in results:
        key = (r.task, r.protocol_key, r.protocol_digest, r.n_images)
        groups.setdefault(key, []).append(r)
    return list(groups.values())


def plain_section(
    folder: Folder, results: Sequence[Result], with_charts: bool = True
) -> tuple[str, list[str]]:
    """The results tables (one per comparable group) and a bar chart per metric."""
    tables, figures = [], []
    labels = _label_results(results, folder)
    for group in _groups(results):
        try:
            table = build_table(group)
        except TableError as err:  # e.g. two copies of one evaluation
            relabelled = [replace(r, variant=folder.rel(r.path or "?")) for r in group]
            try:
                table = build_table(relabelled)
            except TableError as err2:
                tables.append(f"<p class='note'>Not tabulated: {e(err2)}</p>")
                continue
            tables.append(f"<p class='note'>One row per file: {e(err)}</p>")
        tables.append(render_table(table, "html"))
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
            figures.append(_figure(png, f"{key.label} per result ({where})"))
    return "\n".join(tables), figures


def paper_tables(results: Sequence[Result], plan: dict[str, Any] | None) -> str:
    """The paper's published rows, for results on a paper-comparable protocol that matches."""
    comparable = {
        (r.protocol_key, r.task, r.n_images)
        for r in results
        if r.protocol.get("paper_comparable") is True
    }
    if not comparable:
        return ""
    wanted = (plan or {}).get("paper_table")
    out = []
    for name in reference_names():
        tables = json.loads((REFERENCES / f"{name}.json").read_text(encoding="utf-8"))["tables"]
        for table in tables:
            spec = f"{name}:{table}"
            if isinstance(wanted, str) and wanted != spec:
                continue
            ref = load_reference(spec)
            if (ref.protocol_key, ref.task, ref.n_images) not in comparable:
                continue
            metrics = [m for m in RANKED if any(m in row for row in ref.rows)]
            head = "".join(f"<th>{e(METRICS[m].label)} {METRICS[m].arrow}</th>" for m in metrics)
            body = "".join(
                f"<tr><th scope='row'>{e(row['name'])}</th>"
                + "".join(
                    f"<td>{row[m]:.{ref.decimals}f}</td>" if m in row else "<td>–</td>"
                    for m in metrics
                )
                + "</tr>"
                for row in ref.rows
            )
            out.append(
                f"<table class='paper'><caption>Paper: {e(ref.title)}; {e(ref.citation)} "
                f"(protocol {e(ref.protocol_key)}, {ref.n_images} images)</caption>"
                f"<thead><tr><th>row</th>{head}</tr></thead><tbody>{body}</tbody></table>"
            )
    return "\n".join(out)


# ------------------------------------------------------------------------------------------
# Training curves


def training_curves(folder: Folder, runs: Sequence[Result], labels: dict[int, str]) -> list[str]:
    """One chart per loss, one line per run, from the `log.jsonl` beside each result: a colour
    per variant, a line style per seed."""
    curves: dict[str, list[charts.Curve]] = {}
    groups: dict[str, int] = {}
    logged = [r for r in runs if r.path and (Path(r.path).parent / LOG_NAME).is_file()]
    seeds = sorted({_seed(r) for r in logged if _ablation(r)})
    for r in logged:
        info = _ablation(r)
        name = str(info.get("variant")) if info else labels[id(r)]
        group = groups.setdefault(name, len(groups))
        style = seeds.index(_seed(r)) if info else 0
        seed = f"seed {info.get('seed', '?')}" if info else ""
        label = _variant_label(r) if info else labels[id(r)]
        for loss, (steps, values) in _read_log(folder, Path(str(r.path)).parent / LOG_NAME).items():
            curve = charts.Curve(label, steps, values, group, style, seed)
            curves.setdefault(loss, []).append(curve)
    return [
        _figure(charts.curves_chart(c, title=f"training loss {loss}", ylabel=loss), loss)
        for loss, c in curves.items()
    ]


def _read_log(folder: Folder, path: Path, max_points: int = 2000) -> dict[str, tuple[list, list]]:
    series: dict[str, tuple[list[float], list[float]]] = {}
    bad = 0
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        folder.problems.append(f"unreadable training log {folder.rel(path)}: {err}")
        return series
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            entry = None
        if not isinstance(entry, dict):
            bad += 1
            continue
        step = _num(entry.get("step"))
        for key, value in entry.items():
            if key not in ("step", "epoch", *TIMING_KEYS) and _num(value) is not None:
                steps, values = series.setdefault(str(key), ([], []))
                steps.append(step if step is not None else float(i))
                values.append(float(value))
    if bad:
        folder.problems.append(f"{folder.rel(path)}: {bad} line(s) are not JSON objects")
    stride = max(1, max((len(s) for s, _ in series.values()), default=0) // max_points)
    return {k: (s[::stride], v[::stride]) for k, (s, v) in series.items()}


# ------------------------------------------------------------------------------------------
# Provenance


def provenance_section(folder: Folder, labels: dict[int, str]) -> str:
    protocols: dict[tuple[str, str], dict[str, Any]] = {}
    for r in folder.results:
        protocols.setdefault((r.protocol_key, r.protocol_digest), r.protocol)
    parts = ["<h3>Protocols</h3>"]
    for (key, digest), p in protocols.items():
        rows = {
            "key": key,
            "description": p.get("description"),
            "digest (sha256)": digest,
            "paper-comparable": p.get("paper_comparable"),
            "dataset / split used": f"{p.get('dataset')} / {p.get('split_used', p.get('split'))}",
            "segmenter": p.get("segmenter"),
        }
        parts.append(_dl(rows))
    parts.append("<h3>Results</h3>")
    for r in folder.results:
        prov = r.provenance
        segmenter = prov.get("segmenter") if isinstance(prov.get("segmenter"), dict) else {}
        versions = prov.get("versions") if isinstance(prov.get("versions"), dict) else {}
        command = prov.get("command")
        rows = {
            "file": folder.rel(r.path or "?"),
            "file sha256": _file_sha(r.path),
            "protocol": r.protocol_key,
            "task / images": f"{r.task} / {r.n_images}",
            **{f"source {k}": v for k, v in r.source.items()},
            "data sha256": prov.get("data_sha256"),
            "segmenter": " ".join(f"{k}={v}" for k, v in segmenter.items() if k in _SEG_KEYS),
            "seed": prov.get("seed"),
            "device": prov.get("device"),
            "versions": ", ".join(f"{k} {v}" for k, v in versions.items()),
            "command": shlex.join(map(str, command)) if isinstance(command, list) else command,
            "created": prov.get("created"),
        }
        for name, item in _referenced(r):
            rows[f"{name} sha256"] = item.get("sha256")
        parts.append(
            f"<details><summary>{e(labels.get(id(r), '?'))} "
            f"<span class='ci'>{e(folder.rel(r.path or '?'))}</span></summary>{_dl(rows)}</details>"
        )
    return "\n".join(parts)


_SEG_KEYS = ("name", "sha256", "weights", "path")


def _referenced(result: Result) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for sid, sample in _samples(result).items():
        for role in ("input", "output", "target"):
            if isinstance(sample.get(role), dict):
                out.append((f"sample {sid} {role} ({sample[role].get('path')})", sample[role]))
    return out


def _file_sha(path: str | None) -> str:
    try:
        return hashlib.sha256(Path(path or "").read_bytes()).hexdigest()
    except OSError:
        return "unreadable"


def _dl(rows: dict[str, Any]) -> str:
    items = []
    for key, value in rows.items():
        if value is None or value == "":
            continue
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        if len(text) > _EXCERPT:
            text = text[:_EXCERPT] + f"… ({len(text)} characters)"
        items.append(f"<dt>{e(key)}</dt><dd>{e(text)}</dd>")
    return f"<dl>{''.join(items)}</dl>"


# ------------------------------------------------------------------------------------------
# The page


def _figure(png: bytes, caption: str) -> str:
    return f"<figure>{_img(png, caption, 'chart')}<figcaption>{e(caption)}</figcaption></figure>"


def _section(anchor: str, title: str, body: str) -> str:
    return f"<section id='{anchor}'><h2>{e(title)}</h2>\n{body}\n</section>"


def build_report(
    folder: str | os.PathLike[str],
    *,
    title: str | None = None,
    now: datetime.datetime | None = None,
) -> str:
    """The whole report of `folder` as one HTML string (see the module docstring)."""
    found = scan(folder)
    ablation = found.plan is not None
    created = (now or datetime.datetime.now(datetime.timezone.utc)).isoformat(timespec="seconds")
    title = title or (
        str((found.plan or {}).get("title") or "") or f"p2pbench report: {found.root.name}"
    )
    labels = _label_results(found.results, found)
    sections = []
    if ablation:
        runs = _runs(found)
        labels.update({id(r): _variant_label(r) for r in found.results if _ablation(r)})
        labels.update(
            {id(r): f"{labels[id(r)]} (seed {_ablation(r).get('seed', '?')})" for r in runs}
        )
        others = [r for r in found.results if not _ablation(r)]
        if found.summary is not None:
            table = summary_table(found.summary)
        else:
            note = "<p class='note'>summary.json not found: table computed from the runs.</p>"
            grouped = [replace(r, variant=_variant_label(r)) for r in runs]
            truth = _ground_truth(found)
            grouped += [replace(truth, variant="Ground truth")] if truth else []
            table = note + (plain_section(found, grouped, with_charts=False)[0] if grouped else "")
        tables = table + _missing_runs(found) + paper_tables(found.results, found.plan)
        figures = ablation_charts(found)
        if others:
            extra_tables, extra_figures = plain_section(found, others)
            tables += "<h3>Other results in the folder</h3>" + extra_tables
            figures += extra_figures
        curve_runs: Sequence[Result] = runs
    else:
        tables, figures = plain_section(found, found.results)
        tables += paper_tables(found.results, None)
        curve_runs = found.results
    sections.append(_section("tables", "Results", tables))
    figures = figures or ["<p class='note'>No ranked metric to chart.</p>"]
    sections.append(_section("charts", "Metrics", f"<div class='figs'>{''.join(figures)}</div>"))
    curves = training_curves(found, curve_runs, labels)
    if curves:
        sections.append(
            _section("curves", "Training curves", f"<div class='figs'>{''.join(curves)}</div>")
        )
    if ablation:
        grid = image_grid(found)
        if grid:
            sections.append(_section("samples", "Samples", grid))
    sections.append(
        _section("provenance", "Protocol and provenance", provenance_section(found, labels))
    )
    notes = []
    if found.problems:
        items = "".join(f"<li>{e(p)}</li>" for p in found.problems)
        notes.append(
            "<div class='problems'><b>Missing or changed files, and other problems</b>"
            f"<ul>{items}</ul></div>"
        )
    if found.skipped:
        items = "".join(f"<li><code>{e(p)}</code>: {e(why)}</li>" for p, why in found.skipped)
        notes.append(
            f"<div class='skipped'><b>Skipped files</b> (not p2pbench results)<ul>{items}</ul>"
            "</div>"
        )
    header = (
        f"<header><h1>{e(title)}</h1><p class='meta'>folder <code>{e(found.root.absolute())}</code>"
        f" · generated {e(created)} · p2pbench {e(__version__)} · {len(found.results)} result(s)"
        + (f" · ablation plan <code>{e(found.plan.get('plan'))}</code>" if found.plan else "")
        + "</p></header>"
    )
    return _PAGE.format(
        title=e(title), css=_CSS, body=header + "".join(notes) + "\n".join(sections)
    )


def _missing_runs(folder: Folder) -> str:
    """The plan's runs that have no result in the folder (yet)."""
    done = {_ablation(r).get("run_id") for r in folder.results}
    planned = [
        r.get("run_id") for r in (folder.plan or {}).get("runs") or [] if isinstance(r, dict)
    ]
    missing = [str(run) for run in planned if run is not None and run not in done]
    if not missing:
        return ""
    return f"<p class='note'>Planned runs without a result: {e(', '.join(missing))}</p>"


def _variant_label(result: Result) -> str:
    info = _ablation(result)
    return str(info.get("label") or info.get("variant"))


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
        raise FileExistsError(f"{out} exists; pass --overwrite to replace it")
    atomic_write_text(path, build_report(folder, title=title))
    return path


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{css}</style>
</head>
<body>
{body}
</body>
</html>
"""

_CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d2329;
  max-width: 1300px; margin: 0 auto; padding: 16px 28px 60px; background: #fff; }
h1 { font-size: 24px; margin: 8px 0 2px; }
h2 { font-size: 19px; border-bottom: 2px solid #e3e7eb; padding-bottom: 4px; margin-top: 34px; }
h3 { font-size: 15px; margin: 18px 0 6px; }
.meta { color: #5c6670; margin: 0 0 12px; }
code { font: 12px ui-monospace, "DejaVu Sans Mono", monospace; background: #f3f5f7;
  padding: 1px 4px; border-radius: 3px; }
table { border-collapse: collapse; margin: 10px 0 18px; font-variant-numeric: tabular-nums; }
caption { caption-side: top; text-align: left; color: #5c6670; font-size: 12.5px;
  padding-bottom: 6px; max-width: 1100px; }
th, td { padding: 5px 10px; border-bottom: 1px solid #e3e7eb; text-align: right;
  vertical-align: top; }
thead th { background: #f3f5f7; border-bottom: 2px solid #cfd6dd; text-align: center; }
tbody th { text-align: left; font-weight: 600; }
tr.truth { color: #2a7a2a; font-style: italic; }
.p2pbench-ablation td:first-child, table.dataframe td:first-child { text-align: left;
  font-weight: 600; }
.p2pbench-ablation tr:last-child td { border-top: 2px solid #cfd6dd; }
.p2pbench-ablation p { color: #5c6670; font-size: 12.5px; margin: 2px 0; }
.ci { color: #6b757f; font-size: 11.5px; }
.sig { color: #c0392b; font-weight: 700; }
.note { color: #5c6670; font-size: 12.5px; }
.figs { display: flex; flex-wrap: wrap; gap: 12px; }
figure { margin: 0; border: 1px solid #e3e7eb; border-radius: 4px; padding: 4px; }
figcaption { font-size: 12px; color: #5c6670; text-align: center; max-width: 500px; }
img.chart { width: 500px; height: auto; display: block; }
table.grid td.img { padding: 3px; text-align: center; }
table.grid img { width: 148px; height: auto; image-rendering: pixelated; display: block;
  margin: 0 auto; }
table.grid thead th { font-size: 13px; }
.missing { display: inline-block; width: 140px; min-height: 60px; padding: 6px; font-size: 11px;
  color: #a33; background: #fdeeee; border: 1px dashed #d99; word-break: break-all; }
.problems, .skipped { font-size: 12.5px; border-radius: 4px; padding: 6px 12px; margin: 8px 0; }
.problems { background: #fdeeee; border: 1px solid #e8b4b4; }
.skipped { background: #fbf7e8; border: 1px solid #e6dcae; }
.problems ul, .skipped ul { margin: 4px 0; padding-left: 20px; }
details { margin: 4px 0; border: 1px solid #e3e7eb; border-radius: 4px; padding: 4px 10px; }
summary { cursor: pointer; font-weight: 600; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; font-size: 12.5px;
  margin: 6px 0; }
dt { color: #5c6670; }
dd { margin: 0; font-family: ui-monospace, "DejaVu Sans Mono", monospace;
  overflow-wrap: anywhere; }
"""
