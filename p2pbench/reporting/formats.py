"""Renderings of a `p2pbench.reporting.tables.Table`: Markdown, LaTeX (booktabs), CSV and HTML.

Our rows show `mean ± std` (std only when n > 1) with `Table.decimals` digits, the paper's rows
their published precision. Per metric column the best of our rows is bold (the higher or the
lower value, as the metric's direction says; ties at the displayed precision are all bold).
The paper's rows are context and never bold. CSV is data: unformatted means, stds and n.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from p2pbench.metrics.keys import HIGHER, METRICS
from p2pbench.reporting.tables import Table

FORMATS = ("md", "latex", "csv", "html")
_LATEX_ESCAPES = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "×": r"$\times$",
    "±": r"$\pm$",
    "↑": r"$\uparrow$",
    "↓": r"$\downarrow$",
    "→": r"$\rightarrow$",
    "–": "--",
}


def latex_escape(text: str) -> str:
    """`text` safe inside LaTeX (special characters, and the symbols our labels use)."""
    return "".join(_LATEX_ESCAPES.get(c, c) for c in text)


@dataclass(frozen=True)
class _Markup:
    escape: Callable[[str], str]
    bold: Callable[[str], str]


_MARKUP = {
    "md": _Markup(lambda s: s.replace("|", r"\|"), lambda s: f"**{s}**"),
    "latex": _Markup(latex_escape, lambda s: rf"\textbf{{{s}}}"),
    "html": _Markup(html.escape, lambda s: f"<b>{s}</b>"),
}


def render_table(table: Table, fmt: str) -> str:
    """`table` as text in `fmt` (one of FORMATS)."""
    if fmt == "csv":
        return _csv(table)
    if fmt not in _MARKUP:
        raise ValueError(f"unknown table format {fmt!r}; valid: {', '.join(FORMATS)}")
    header, rows = _cells(table, _MARKUP[fmt])
    if fmt == "md":
        return _markdown(table, header, rows)
    if fmt == "latex":
        return _latex(table, header, rows)
    return _html(table, header, rows)


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


def _header(table: Table) -> list[str]:
    origin = ["origin"] if _has_paper(table) else []
    labels = [f"{METRICS[m].label} {METRICS[m].arrow}" for m in table.metrics]
    return ["variant", *origin, "n", *labels]


def _cells(table: Table, markup: _Markup) -> tuple[list[str], list[list[str]]]:
    """Escaped header and body cells, bold applied."""
    flags = best_flags(table)
    rows = []
    for i, row in enumerate(table.frame.to_dict("records")):
        paper = row["origin"] == "paper"
        digits = table.reference_decimals if paper else table.decimals
        cells = [markup.escape(str(row["variant"]))]
        cells += [markup.escape(row["origin"])] if _has_paper(table) else []
        cells.append("" if paper else str(row["n"]))
        for m in table.metrics:
            text = _value(row[m], row.get(f"{m}_std", math.nan), digits)
            cells.append(markup.bold(markup.escape(text)) if flags[m][i] else markup.escape(text))
        rows.append(cells)
    return [markup.escape(h) for h in _header(table)], rows


def _value(mean: float, std: float, digits: int) -> str:
    if pd.isna(mean):
        return "–"
    return f"{mean:.{digits}f}" + ("" if pd.isna(std) else f" ± {std:.{digits}f}")


def _has_paper(table: Table) -> bool:
    return bool((table.frame["origin"] == "paper").any())


def _markdown(table: Table, header: list[str], rows: list[list[str]]) -> str:
    n_text = len(header) - len(table.metrics)
    align = [":--"] * (n_text - 1) + ["--:"] * (len(table.metrics) + 1)
    lines = [f"Table: {_MARKUP['md'].escape(table.caption)}", ""]
    lines += ["| " + " | ".join(r) + " |" for r in (header, align, *rows)]
    lines += [""] + [f"Note: {n}" for n in table.notes]
    return "\n".join(lines).rstrip() + "\n"


def _latex(table: Table, header: list[str], rows: list[list[str]]) -> str:
    esc = _MARKUP["latex"].escape
    n_text = len(header) - len(table.metrics)
    lines = [
        r"\begin{table}[t]",
        r"\centering",
        rf"\caption{{{esc(table.caption)}}}",
        r"\begin{tabular}{" + "l" * (n_text - 1) + "r" * (len(table.metrics) + 1) + "}",
        r"\toprule",
        " & ".join(header) + r" \\",
        r"\midrule",
    ]
    origins = list(table.frame["origin"])
    for i, cells in enumerate(rows):
        if i and origins[i] != origins[i - 1]:
            lines.append(r"\midrule")
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    lines += [f"% Note: {n}" for n in table.notes]
    return "\n".join(lines) + "\n"


def _html(table: Table, header: list[str], rows: list[list[str]]) -> str:
    frame = pd.DataFrame(rows, columns=header)
    text = frame.to_html(index=False, escape=False, border=0)
    opening = text.index(">") + 1
    caption = f"\n  <caption>{html.escape(table.caption)}</caption>"
    notes = "".join(f"<p>Note: {html.escape(n)}</p>\n" for n in table.notes)
    return text[:opening] + caption + text[opening:] + "\n" + notes


def _csv(table: Table) -> str:
    frame = table.frame
    columns = ["variant", "origin", "n", *table.metrics, *(f"{m}_std" for m in table.metrics)]
    return frame.reindex(columns=columns).to_csv(index=False, lineterminator="\n")
