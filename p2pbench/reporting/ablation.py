"""The summary of an ablation: per variant, mean ± std and t-interval over seeds, and a paired
bootstrap over images of each variant against the reference variant.

`summarize` turns an ablation plan (`p2pbench.records.AblationManifest`, `plan.json`) and the
results of its runs into an `AblationSummary` (`summary.json`); `render_summary` writes it as
Markdown, LaTeX, CSV or HTML through the one table writer (`p2pbench.reporting.formats`).

A result belongs to the plan run of its variant (the key of `results`) and its training seed
(`Result.train_seed`).

`metrics` are the ranked metrics (`p2pbench.metrics.keys.RANKED`, in that order) that are a
number in every result, so each row's mean is over all its seeds. A metric recorded as
unavailable in a row's result is listed in that row's `unavailable` with its reason. The
bootstrap compares FCN metrics only; it needs every seed of both variants to carry per-image
confusion histograms (`per_image[i]["confusion"]`), else the row's `vs_reference` is None and
`vs_reference_reason` says why. `n_images` is the number of images compared (None when no
comparison was made).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from p2pbench.errors import BadInputError
from p2pbench.metrics.keys import METRICS, RANKED
from p2pbench.metrics.uncertainty import SCORE_METRICS, paired_bootstrap, pool_seeds, seed_summary
from p2pbench.records import (
    AblationManifest,
    AblationSummary,
    Difference,
    SeedStats,
    SummaryRow,
)
from p2pbench.reporting.formats import Cell, TextTable, write_table
from p2pbench.results import ComparableKey, Result

LEVEL = 0.95
DECIMALS = 3
_DASH = "–"
_MINUS = "−"


class AblationSummaryError(BadInputError, ValueError):
    """The results do not fit the plan: unknown variants, repeated seeds, mixed protocols."""


# --------------------------------------------------------------------------- summarize


def _describe(variant: str, result: Result) -> str:
    where = f" ({result.path})" if result.path else ""
    seed = result.train_seed
    return f"{variant} seed {seed if seed is not None else '?'}{where}"


def _require_one_protocol(labelled: Sequence[tuple[str, Result]]) -> None:
    """Every result (ground truth included) on one protocol digest, task and image count."""
    groups: dict[ComparableKey, list[str]] = {}
    for name, r in labelled:
        groups.setdefault(r.comparable_key, []).append(name)
    if len(groups) <= 1:
        return
    common = max(groups, key=lambda k: len(groups[k]))
    odd = "; ".join(
        f"{', '.join(names)}: {key.describe()}" for key, names in groups.items() if key != common
    )
    raise AblationSummaryError(
        f"the results of an ablation must share one protocol digest, task and number of "
        f"images; most have {common.describe()}, but not {odd}"
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


def _by_seed(name: str, runs: Sequence[Result]) -> list[Result]:
    seeds = [r.train_seed for r in runs]
    dup = sorted({s for s in seeds if s is not None and seeds.count(s) > 1})
    if dup:
        raise AblationSummaryError(
            f"variant {name!r} has several results for seed(s) {dup}: counting each would "
            "inflate n; give one result per seed"
        )
    return sorted(runs, key=lambda r: (r.train_seed is None, r.train_seed or 0))


def _seed_stats(runs: Sequence[Result], metrics: Sequence[str]) -> dict[str, SeedStats]:
    out = {}
    for m in metrics:
        s = seed_summary([x for r in runs if (x := r.value(m)) is not None], LEVEL)
        out[m] = SeedStats(tuple(s.values), s.mean, s.std, s.low, s.high)
    return out


Pooled = tuple[tuple[str, ...], np.ndarray]


def _compare(
    name: str,
    reference: str,
    mine: Pooled,
    ref: Pooled,
    metrics: Sequence[str],
    draws: int,
    seed: int,
) -> dict[str, Difference]:
    """The paired bootstrap of `name` against `reference` on their shared images."""
    ids = mine[0]
    if set(ids) != set(ref[0]):
        raise AblationSummaryError(
            f"variants {name!r} and {reference!r} were not scored on the same images "
            f"({len(set(ids) ^ set(ref[0]))} sample ids differ)"
        )
    position = {k: i for i, k in enumerate(ids)}
    aligned = mine[1][[position[k] for k in ref[0]]]
    out = {}
    for m in metrics:
        d = paired_bootstrap(ref[1], aligned, metric=m, draws=draws, seed=seed)
        out[m] = Difference(d.observed, d.low, d.high, d.significant)
    return out


def summarize(
    plan: AblationManifest | Mapping[str, Any],
    results: Mapping[str, Sequence[Result]],
    ground_truth: Result | None,
    *,
    draws: int | None = None,
    seed: int | None = None,
) -> AblationSummary:
    """The ablation summary (see the module docstring). `draws` and `seed` of the bootstrap
    default to the plan's.

    Raises a BadInputError when the plan is malformed, a result belongs to no variant of the
    plan, two results of a variant have the same seed, or the results are on different
    protocols.
    """
    if not isinstance(plan, AblationManifest):
        plan = AblationManifest.from_dict(plan)
    draws = plan.bootstrap_draws if draws is None else draws
    seed = plan.bootstrap_seed if seed is None else seed
    names = [v.name for v in plan.variants]
    unknown = sorted(set(results) - set(names))
    if unknown:
        raise AblationSummaryError(
            f"results given for variants {unknown} that the plan {plan.plan!r} does not have "
            f"(its variants: {names})"
        )
    ordered = {name: _by_seed(name, results.get(name) or []) for name in names}
    labelled = [(_describe(n, r), r) for n, rs in ordered.items() for r in rs]
    if ground_truth is not None:
        where = f" ({ground_truth.path})" if ground_truth.path else ""
        labelled.append((f"ground truth{where}", ground_truth))
    _require_one_protocol(labelled)
    everything = [r for rs in ordered.values() for r in rs]
    first = everything[0] if everything else ground_truth
    protocol = first.protocol_key if first is not None else plan.protocol
    if everything and plan.protocol not in (None, protocol, everything[0].protocol.get("name")):
        raise AblationSummaryError(
            f"ablation plan {plan.plan!r} is for protocol {plan.protocol!r} but its results "
            f"are on {protocol}"
        )
    metrics = [m for m in RANKED if everything and all(r.value(m) is not None for r in everything)]
    compared = [m for m in SCORE_METRICS if m in metrics]

    pooled: dict[str, Pooled | str] = {}

    def pool(name: str) -> Pooled | str:
        if name not in pooled:
            runs = ordered[name]
            why = "no results" if not runs else _confusions(runs)
            pooled[name] = why if why else pool_seeds([r.per_image or [] for r in runs])
        return pooled[name]

    n_images = None
    rows = []
    for variant in plan.variants:
        runs = ordered[variant.name]
        versus, reason = None, None
        if variant.name != plan.reference_variant and runs and compared:
            mine, ref = pool(variant.name), pool(plan.reference_variant)
            if isinstance(ref, str):
                reason = f"reference {plan.reference_variant!r}: {ref}"
            elif isinstance(mine, str):
                reason = mine
            else:
                versus = _compare(
                    variant.name, plan.reference_variant, mine, ref, compared, draws, seed
                )
                n_images = len(mine[0])
        rows.append(
            SummaryRow(
                variant=variant.name,
                label=variant.label,
                seeds=tuple(r.train_seed for r in runs),
                metrics=_seed_stats(runs, metrics) if runs else {},
                unavailable=_unavailable(runs),
                vs_reference=versus,
                vs_reference_reason=reason,
            )
        )

    done = {(name, r.train_seed) for name, rs in ordered.items() for r in rs}
    run_ids = {r.run_id for r in everything if r.run_id is not None}
    missing_runs = [
        run.run_id
        for run in plan.runs
        if run.run_id not in run_ids and (run.variant, run.seed) not in done
    ]
    truth = None
    if ground_truth is not None:
        truth = {m: v for m in metrics if (v := ground_truth.value(m)) is not None}
    return AblationSummary(
        plan=plan.plan,
        title=plan.title,
        protocol=protocol,
        reference_variant=plan.reference_variant,
        metrics=tuple(metrics),
        rows=tuple(rows),
        ground_truth=truth,
        missing_runs=tuple(missing_runs),
        bootstrap_draws=int(draws),
        bootstrap_seed=int(seed),
        level=LEVEL,
        compared_metrics=tuple(compared),
        n_images=n_images,
    )


# --------------------------------------------------------------------------- render


def _num(x: float) -> str:
    return f"{x:.{DECIMALS}f}"


def _signed(x: float) -> str:
    text = f"{x:+.{DECIMALS}f}"
    if float(text) == 0:
        text = f"+{0:.{DECIMALS}f}"
    return text.replace("-", _MINUS)


def _stats_text(stats: SeedStats | None) -> str:
    if stats is None:
        return _DASH
    text = _num(stats.mean)
    if stats.std is not None:
        text += f" ± {_num(stats.std)}"
    if stats.low is not None and stats.high is not None:
        text += f" [{_num(stats.low)}, {_num(stats.high)}]"
    return text


def _delta_cell(row: SummaryRow, metric: str, reference: str) -> Cell:
    if row.variant == reference:
        return Cell("ref.")
    d = (row.vs_reference or {}).get(metric)
    if d is None:
        return Cell(_DASH)
    text = f"{_signed(d.observed)} [{_signed(d.low)}, {_signed(d.high)}]"
    return Cell(text, marked=d.significant)


def _first_sentence(reason: str) -> str:
    """A reason's first sentence (or line), for a one-line table note."""
    line = reason.strip().splitlines()[0] if reason.strip() else reason
    return re.split(r"(?<=\.)\s+(?=[A-Z])", line, maxsplit=1)[0]


def summary_notes(summary: AblationSummary) -> list[str]:
    """The notes under the table: what ± and [ ] mean, the Δ method, what is unavailable
    (one line per reason: its first sentence; the full text is in each result file), the
    rows without Δ and the missing runs."""
    pct = f"{100 * summary.level:g}%"
    text = f"± : std over seeds; [ ]: {pct} t-interval over seeds"
    if summary.compared_metrics:
        text += (
            f"; Δ: paired bootstrap over val images ({summary.bootstrap_draws} draws, seed "
            f"{summary.bootstrap_seed}), * = {pct} interval excludes 0"
        )
    notes = [text]
    by_reason: dict[str, dict[str, list[str]]] = {}
    for row in summary.rows:
        for key, reason in row.unavailable.items():
            label = METRICS[key].label if key in METRICS else key
            by_reason.setdefault(_first_sentence(reason), {}).setdefault(label, []).append(
                row.label
            )
    grouped: dict[tuple[str, tuple[str, ...]], list[str]] = {}
    for reason, by_label in by_reason.items():
        for label, row_labels in by_label.items():
            grouped.setdefault((reason, tuple(row_labels)), []).append(label)
    for (reason, rows_of), labels in grouped.items():
        notes.append(f"{', '.join(labels)} unavailable for {', '.join(rows_of)}: {reason}")
    for row in summary.rows:
        if row.vs_reference_reason:
            notes.append(f"{row.label}: no Δ ({row.vs_reference_reason})")
    if summary.missing_runs:
        notes.append(f"missing runs: {', '.join(summary.missing_runs)}")
    return notes


def summary_table(summary: AblationSummary) -> TextTable:
    """The summary as a table: one row per variant (mean ± std [t-interval]; Δ vs the
    reference with its interval, * when significant), then the ground truth."""
    metrics, compared = summary.metrics, summary.compared_metrics
    header = ["Variant", "n"]
    header += [f"{METRICS[m].label} {METRICS[m].arrow}".rstrip() for m in metrics]
    header += [f"Δ {METRICS[m].label} vs {summary.reference_label}" for m in compared]
    rows, data = [], []
    for row in summary.rows:
        cells = [Cell(row.label), Cell(str(row.n))]
        cells += [Cell(_stats_text(row.metrics.get(m))) for m in metrics]
        cells += [_delta_cell(row, m, summary.reference_variant) for m in compared]
        rows.append(tuple(cells))
        record: list[Any] = [row.variant, row.label, row.n]
        for m in metrics:
            s = row.metrics.get(m)
            record += [s.mean, s.std, s.low, s.high] if s else [None] * 4
        for m in compared:
            d = (row.vs_reference or {}).get(m)
            record += [d.observed, d.low, d.high, d.significant] if d else [None] * 4
        data.append(record)
    if summary.ground_truth is not None:
        truth = summary.ground_truth
        cells = [Cell("Ground truth"), Cell("")]
        cells += [Cell(_num(truth[m]) if m in truth else _DASH) for m in metrics]
        cells += [Cell("")] * len(compared)
        rows.append(tuple(cells))
        record = ["ground_truth", "Ground truth", None]
        for m in metrics:
            record += [truth.get(m), None, None, None]
        data.append(record + [None] * (4 * len(compared)))
    columns = ["variant", "label", "n"]
    for m in metrics:
        columns += [f"{m}_mean", f"{m}_std", f"{m}_low", f"{m}_high"]
    for m in compared:
        columns += [f"delta_{m}", f"delta_{m}_low", f"delta_{m}_high", f"delta_{m}_significant"]
    return TextTable(
        caption=f"{summary.title}. Protocol {summary.protocol}, plan {summary.plan}.",
        header=tuple(header),
        rows=tuple(rows),
        data=pd.DataFrame(data, columns=columns, dtype=object),
        notes=tuple(summary_notes(summary)),
        groups=tuple([0] * len(summary.rows) + [1] * (summary.ground_truth is not None)),
        html_class="p2pbench-ablation",
    )


def render_summary(summary: AblationSummary | Mapping[str, Any], fmt: str) -> str:
    """`summary` (from `summarize`, or a `summary.json` object) as Markdown (`md` or
    `markdown`), LaTeX, CSV or HTML."""
    if not isinstance(summary, AblationSummary):
        summary = AblationSummary.from_dict(summary)
    return write_table(summary_table(summary), fmt, what="summary")
