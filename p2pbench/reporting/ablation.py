"""The summary of an ablation: per variant, mean ± std and t-interval over seeds, and a paired
bootstrap over images of each variant against the reference variant.

`summarize` turns an ablation plan (the manifest `p2pbench-ablation`, version 1) and the
results of its runs into a JSON-serialisable summary (`p2pbench-ablation-summary`, version 1);
`render_summary` renders it as Markdown, LaTeX, CSV or HTML.

A result belongs to the plan run of its variant (the key of `results`) and its training seed:
`source.run.seed` (a trainer's checkpoint records its run), else a top-level `seed` a user
added to the result, or a top-level `run_id` naming the run directly.

`metrics` are the ranked metrics (`p2pbench.metrics.keys.RANKED`, in that order) that are a
number in every result, so each row's mean is over all its seeds. A metric recorded as
unavailable in a row's result is listed in that row's `unavailable` with its reason. The
bootstrap compares FCN metrics only; it needs every seed of both variants to carry per-image
confusion histograms (`per_image[i]["confusion"]`), else the row's `vs_reference` is null and
`vs_reference_reason` says why. `bootstrap.n_images` is the number of images compared (null
when no comparison was made).
"""

from __future__ import annotations

import csv
import html
import io
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from p2pbench.metrics.keys import METRICS, RANKED
from p2pbench.metrics.uncertainty import SCORE_METRICS, paired_bootstrap, pool_seeds, seed_summary
from p2pbench.reporting.formats import latex_escape
from p2pbench.results import Result

PLAN_FORMAT = "p2pbench-ablation"
SUMMARY_FORMAT = "p2pbench-ablation-summary"
SUMMARY_VERSION = 1
LEVEL = 0.95
DECIMALS = 3
GROUND_TRUTH = "Ground truth"
SUMMARY_FORMATS = ("markdown", "latex", "csv", "html")
_DASH = "–"
_MINUS = "−"


# --------------------------------------------------------------------------- summarize


def _check_plan(plan: Mapping[str, Any]) -> tuple[list[dict[str, Any]], str]:
    if not isinstance(plan, Mapping):
        raise ValueError(f"expected an ablation plan (a dict), found {type(plan).__name__}")
    if plan.get("format", PLAN_FORMAT) != PLAN_FORMAT:
        raise ValueError(f"not an ablation plan: format {plan.get('format')!r}, not {PLAN_FORMAT}")
    lacking = [k for k in ("plan", "title", "reference_variant", "variants") if k not in plan]
    if lacking:
        raise ValueError(f"ablation plan {plan.get('plan')!r} lacks {lacking}")
    variants = list(plan["variants"])
    names = [v.get("name") if isinstance(v, Mapping) else None for v in variants]
    if not names or any(not isinstance(n, str) for n in names) or len(set(names)) != len(names):
        raise ValueError(
            f"ablation plan {plan['plan']!r}: variants must be a non-empty list of dicts with "
            f"distinct string names, found {names}"
        )
    reference = plan["reference_variant"]
    if reference not in names:
        raise ValueError(
            f"ablation plan {plan['plan']!r}: reference_variant {reference!r} is not one of its "
            f"variants {names}"
        )
    return [dict(v) for v in variants], reference


def _train_seed(result: Result) -> int | None:
    run = result.source.get("run")
    if isinstance(run, Mapping) and isinstance(run.get("seed"), int):
        return int(run["seed"])
    seed = result.extra.get("seed")
    return int(seed) if isinstance(seed, int) and not isinstance(seed, bool) else None


def _describe(variant: str, result: Result) -> str:
    where = f" ({result.path})" if result.path else ""
    seed = _train_seed(result)
    return f"{variant} seed {seed if seed is not None else '?'}{where}"


def _require_one_protocol(labelled: Sequence[tuple[str, Result]]) -> None:
    """Every result (ground truth included) on one protocol digest, task and image count."""
    groups: dict[tuple[Any, ...], list[str]] = {}
    for name, r in labelled:
        key = (r.protocol_digest, r.protocol_key, r.task, r.n_images)
        groups.setdefault(key, []).append(name)
    if len(groups) <= 1:
        return
    common = max(groups, key=lambda k: len(groups[k]))
    odd = "; ".join(
        f"{', '.join(names)}: protocol {k[1]} digest {k[0][:12]}, task {k[2]}, {k[3]} images"
        for k, names in groups.items()
        if k != common
    )
    raise ValueError(
        f"the results of an ablation must share one protocol digest, task and number of "
        f"images; most have protocol {common[1]} digest {common[0][:12]}, task {common[2]}, "
        f"{common[3]} images, but not {odd}"
    )


def _unavailable(results: Sequence[Result]) -> dict[str, str]:
    reasons: dict[str, list[str]] = {}
    for r in results:
        for key in RANKED:
            value = r.metrics.get(key)
            if isinstance(value, Mapping) and value.get("available") is False:
                reason = str(value.get("reason", "unavailable"))
                if reason not in reasons.setdefault(key, []):
                    reasons[key].append(reason)
    return {k: "; ".join(v) for k, v in reasons.items()}


def _confusions(results: Sequence[Result]) -> str | None:
    """Why these results cannot be bootstrapped (None: they can)."""
    for r in results:
        if not r.per_image:
            return f"{r.path or 'a result'} has no per-image scores"
        if any(not isinstance(e, Mapping) or "confusion" not in e for e in r.per_image):
            return f"{r.path or 'a result'} has no per-image confusion histograms"
    return None


def summarize(
    plan: dict[str, Any],
    results: dict[str, list[Result]],
    ground_truth: Result | None,
    *,
    draws: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """The ablation summary (see the module docstring); only plain JSON types.

    Raises ValueError when the plan is malformed, a result belongs to no variant of the plan,
    two results of a variant have the same seed, or the results are on different protocols.
    """
    variants, reference = _check_plan(plan)
    names = [v["name"] for v in variants]
    unknown = sorted(set(results) - set(names))
    if unknown:
        raise ValueError(
            f"results given for variants {unknown} that the plan {plan['plan']!r} does not have "
            f"(its variants: {names})"
        )
    ordered: dict[str, list[Result]] = {}
    for name in names:
        runs = list(results.get(name) or [])
        seeds = [_train_seed(r) for r in runs]
        dup = sorted({s for s in seeds if s is not None and seeds.count(s) > 1})
        if dup:
            raise ValueError(
                f"variant {name!r} has several results for seed(s) {dup}: counting each would "
                "inflate n; give one result per seed"
            )
        ordered[name] = sorted(runs, key=lambda r: (_train_seed(r) is None, _train_seed(r) or 0))
    labelled = [(_describe(n, r), r) for n, rs in ordered.items() for r in rs]
    if ground_truth is not None:
        labelled.append(
            (f"ground truth{f' ({ground_truth.path})' if ground_truth.path else ''}", ground_truth)
        )
    _require_one_protocol(labelled)
    everything = [r for rs in ordered.values() for r in rs]
    protocol = (
        everything[0].protocol_key
        if everything
        else ground_truth.protocol_key
        if ground_truth is not None
        else plan.get("protocol")
    )
    if everything and plan.get("protocol") not in (
        None,
        protocol,
        everything[0].protocol.get("name"),
    ):
        raise ValueError(
            f"ablation plan {plan['plan']!r} is for protocol {plan['protocol']!r} but its "
            f"results are on {protocol}"
        )
    metrics = [m for m in RANKED if everything and all(r.value(m) is not None for r in everything)]
    boot_metrics = [m for m in SCORE_METRICS if m in metrics]

    pooled: dict[str, tuple[tuple[str, ...], np.ndarray] | str] = {}

    def pool(name: str) -> tuple[tuple[str, ...], np.ndarray] | str:
        if name not in pooled:
            runs = ordered[name]
            why = "no results" if not runs else _confusions(runs)
            pooled[name] = why if why else pool_seeds([r.per_image or [] for r in runs])
        return pooled[name]

    n_images = None
    rows = []
    for variant in variants:
        name = variant["name"]
        runs = ordered[name]
        row: dict[str, Any] = {
            "variant": name,
            "label": str(variant.get("label") or name),
            "seeds": [_train_seed(r) for r in runs],
            "n": len(runs),
            "metrics": {},
            "unavailable": _unavailable(runs),
            "vs_reference": None,
        }
        for m in metrics if runs else []:
            s = seed_summary([x for r in runs if (x := r.value(m)) is not None], LEVEL)
            row["metrics"][m] = {
                "values": list(s.values),
                "mean": s.mean,
                "std": s.std,
                "low": s.low,
                "high": s.high,
            }
        if name != reference and runs and boot_metrics:
            mine, ref = pool(name), pool(reference)
            if isinstance(ref, str) or isinstance(mine, str):
                row["vs_reference_reason"] = (
                    f"reference {reference!r}: {ref}" if isinstance(ref, str) else mine
                )
            else:
                ids = mine[0]
                position = {k: i for i, k in enumerate(ids)}
                if set(ids) != set(ref[0]):
                    raise ValueError(
                        f"variants {name!r} and {reference!r} were not scored on the same images "
                        f"({len(set(ids) ^ set(ref[0]))} sample ids differ)"
                    )
                aligned = mine[1][[position[k] for k in ref[0]]]
                diffs = {
                    m: paired_bootstrap(ref[1], aligned, metric=m, draws=draws, seed=seed)
                    for m in boot_metrics
                }
                n_images = len(ids)
                row["vs_reference"] = {
                    m: {
                        "observed": d.observed,
                        "low": d.low,
                        "high": d.high,
                        "significant": d.significant,
                    }
                    for m, d in diffs.items()
                }
        rows.append(row)

    done = {(name, _train_seed(r)) for name, rs in ordered.items() for r in rs}
    run_ids = {r.extra.get("run_id") for r in everything if isinstance(r.extra.get("run_id"), str)}
    missing_runs = [
        str(run["run_id"])
        for run in plan.get("runs") or []
        if run.get("run_id") not in run_ids and (run.get("variant"), run.get("seed")) not in done
    ]
    gt = None
    if ground_truth is not None:
        gt = {
            "label": GROUND_TRUTH,
            "metrics": {
                m: ground_truth.value(m) for m in metrics if ground_truth.value(m) is not None
            },
        }
    return {
        "format": SUMMARY_FORMAT,
        "version": SUMMARY_VERSION,
        "plan": plan["plan"],
        "title": plan["title"],
        "protocol": protocol,
        "reference_variant": reference,
        "metrics": metrics,
        "bootstrap": {
            "draws": int(draws),
            "seed": int(seed),
            "level": LEVEL,
            "metrics": boot_metrics,
            "n_images": n_images,
        },
        "rows": rows,
        "ground_truth": gt,
        "missing_runs": missing_runs,
    }


# --------------------------------------------------------------------------- render


def _latex(text: str) -> str:
    extra = {_MINUS: "$-$", "Δ": r"$\Delta$", "<": r"\textless{}", ">": r"\textgreater{}"}
    return "".join(extra.get(c) or latex_escape(c) for c in text)


def _md(text: str) -> str:
    return text.replace("|", r"\|")


_ESCAPE: dict[str, Callable[[str], str]] = {"markdown": _md, "latex": _latex, "html": html.escape}
_STAR = {"markdown": "*", "latex": "$^{*}$", "html": "<sup>*</sup>"}


def _num(x: float) -> str:
    return f"{x:.{DECIMALS}f}"


def _signed(x: float) -> str:
    text = f"{x:+.{DECIMALS}f}"
    if float(text) == 0:
        text = f"+{0:.{DECIMALS}f}"
    return text.replace("-", _MINUS)


def _cell(stats: Mapping[str, Any] | None) -> str:
    if not stats:
        return _DASH
    text = _num(stats["mean"])
    if stats.get("std") is not None:
        text += f" ± {_num(stats['std'])}"
    if stats.get("low") is not None and stats.get("high") is not None:
        text += f" [{_num(stats['low'])}, {_num(stats['high'])}]"
    return text


def _delta(d: Mapping[str, Any]) -> str:
    return f"{_signed(d['observed'])} [{_signed(d['low'])}, {_signed(d['high'])}]"


def _ref_label(summary: Mapping[str, Any]) -> str:
    for row in summary["rows"]:
        if row["variant"] == summary["reference_variant"]:
            return str(row["label"])
    return str(summary["reference_variant"])


def _header(summary: Mapping[str, Any]) -> list[str]:
    ref = _ref_label(summary)
    cols = ["Variant", "n"]
    cols += [f"{METRICS[m].label} {METRICS[m].arrow}".rstrip() for m in summary["metrics"]]
    cols += [f"Δ {METRICS[m].label} vs {ref}" for m in summary["bootstrap"]["metrics"]]
    return cols


def _notes(summary: Mapping[str, Any]) -> list[str]:
    boot = summary["bootstrap"]
    pct = f"{100 * boot['level']:g}%"
    text = f"± : std over seeds; [ ]: {pct} t-interval over seeds"
    if boot["metrics"]:
        text += (
            f"; Δ: paired bootstrap over val images ({boot['draws']} draws, seed "
            f"{boot['seed']}), * = {pct} interval excludes 0"
        )
    notes = [text]
    # one line per reason: its first sentence (the full text is in each result file)
    unavailable: dict[tuple[str, tuple[str, ...]], list[str]] = {}
    by_reason: dict[str, dict[str, list[str]]] = {}
    for row in summary["rows"]:
        for key, reason in (row.get("unavailable") or {}).items():
            label = METRICS[key].label if key in METRICS else key
            rows = by_reason.setdefault(_first_sentence(reason), {}).setdefault(label, [])
            rows.append(str(row["label"]))
    for reason, labels in by_reason.items():
        for label, rows in labels.items():
            unavailable.setdefault((reason, tuple(rows)), []).append(label)
    for (reason, rows), labels in unavailable.items():
        notes.append(f"{', '.join(labels)} unavailable for {', '.join(rows)}: {reason}")
    for row in summary["rows"]:
        if row.get("vs_reference_reason"):
            notes.append(f"{row['label']}: no Δ ({row['vs_reference_reason']})")
    if summary.get("missing_runs"):
        notes.append(f"missing runs: {', '.join(map(str, summary['missing_runs']))}")
    return notes


def _first_sentence(reason: str) -> str:
    """A reason's first sentence (or line), for a one-line table note."""
    line = reason.strip().splitlines()[0] if reason.strip() else reason
    return re.split(r"(?<=\.)\s+(?=[A-Z])", line, maxsplit=1)[0]


def _body(summary: Mapping[str, Any], fmt: str) -> list[list[str]]:
    """Escaped cells of every row (variants, then Ground truth)."""
    esc, star = _ESCAPE[fmt], _STAR[fmt]
    rows = []
    for row in summary["rows"]:
        cells = [esc(str(row["label"])), str(row["n"])]
        cells += [esc(_cell(row["metrics"].get(m))) for m in summary["metrics"]]
        for m in summary["bootstrap"]["metrics"]:
            if row["variant"] == summary["reference_variant"]:
                cells.append(esc("ref."))
            elif row.get("vs_reference") and m in row["vs_reference"]:
                d = row["vs_reference"][m]
                cells.append(esc(_delta(d)) + (star if d["significant"] else ""))
            else:
                cells.append(esc(_DASH))
        rows.append(cells)
    gt = summary.get("ground_truth")
    if gt:
        cells = [esc(str(gt["label"])), ""]
        cells += [
            esc(_num(gt["metrics"][m]) if m in gt["metrics"] else _DASH) for m in summary["metrics"]
        ]
        cells += [""] * len(summary["bootstrap"]["metrics"])
        rows.append(cells)
    return rows


def _caption(summary: Mapping[str, Any]) -> str:
    return f"{summary['title']}. Protocol {summary['protocol']}, plan {summary['plan']}."


def _render_markdown(summary: Mapping[str, Any]) -> str:
    header = [_md(h) for h in _header(summary)]
    align = [":--"] + ["--:"] * (len(header) - 1)
    lines = [f"Table: {_md(_caption(summary))}", ""]
    lines += ["| " + " | ".join(r) + " |" for r in (header, align, *_body(summary, "markdown"))]
    lines += [""] + [f"Note: {_md(n)}" for n in _notes(summary)]
    return "\n".join(lines) + "\n"


def _render_latex(summary: Mapping[str, Any]) -> str:
    header = [_latex(h) for h in _header(summary)]
    body = _body(summary, "latex")
    n_variants = len(summary["rows"])
    lines = [
        r"\begin{table}[t]",
        r"\centering",
        rf"\caption{{{_latex(_caption(summary))}}}",
        r"\begin{tabular}{l" + "r" * (len(header) - 1) + "}",
        r"\toprule",
        " & ".join(header) + r" \\",
        r"\midrule",
    ]
    for i, cells in enumerate(body):
        if i == n_variants:
            lines.append(r"\midrule")
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    lines += [r"\par\smallskip{\footnotesize " + _latex(n) + "}" for n in _notes(summary)]
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"


def _render_html(summary: Mapping[str, Any]) -> str:
    header = "".join(f"<th>{html.escape(h)}</th>" for h in _header(summary))
    body = "\n".join(
        "    <tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"
        for cells in _body(summary, "html")
    )
    notes = "\n".join(f"  <p>Note: {html.escape(n)}</p>" for n in _notes(summary))
    return (
        '<div class="p2pbench-ablation">\n<table>\n'
        f"  <caption>{html.escape(_caption(summary))}</caption>\n"
        f"  <thead><tr>{header}</tr></thead>\n  <tbody>\n{body}\n  </tbody>\n</table>\n"
        f"{notes}\n</div>\n"
    )


def _csv_number(x: Any) -> Any:
    return "" if x is None else x


def _render_csv(summary: Mapping[str, Any]) -> str:
    metrics, boot = summary["metrics"], summary["bootstrap"]["metrics"]
    columns = ["variant", "label", "n"]
    for m in metrics:
        columns += [f"{m}_mean", f"{m}_std", f"{m}_low", f"{m}_high"]
    for m in boot:
        columns += [f"delta_{m}", f"delta_{m}_low", f"delta_{m}_high", f"delta_{m}_significant"]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in summary["rows"]:
        cells: list[Any] = [row["variant"], row["label"], row["n"]]
        for m in metrics:
            s = row["metrics"].get(m) or {}
            cells += [_csv_number(s.get(k)) for k in ("mean", "std", "low", "high")]
        for m in boot:
            d = (row.get("vs_reference") or {}).get(m) or {}
            cells += [_csv_number(d.get(k)) for k in ("observed", "low", "high", "significant")]
        writer.writerow(cells)
    gt = summary.get("ground_truth")
    if gt:
        cells = ["ground_truth", gt["label"], ""]
        for m in metrics:
            cells += [_csv_number(gt["metrics"].get(m)), "", "", ""]
        cells += [""] * (4 * len(boot))
        writer.writerow(cells)
    return out.getvalue()


def render_summary(summary: dict[str, Any], fmt: str) -> str:
    """`summary` (from `summarize`) as text: `markdown` (or `md`), `latex`, `csv` or `html`."""
    fmt = "markdown" if fmt == "md" else fmt
    if fmt not in SUMMARY_FORMATS:
        raise ValueError(f"unknown summary format {fmt!r}; valid: {', '.join(SUMMARY_FORMATS)}")
    if not isinstance(summary, Mapping) or summary.get("format") != SUMMARY_FORMAT:
        raise ValueError(f"not an ablation summary (expected format {SUMMARY_FORMAT!r})")
    render = {
        "markdown": _render_markdown,
        "latex": _render_latex,
        "csv": _render_csv,
        "html": _render_html,
    }[fmt]
    return render(summary)
