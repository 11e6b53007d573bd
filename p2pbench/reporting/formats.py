"""The one table writer: a `TextTable` as Markdown, LaTeX (booktabs), CSV or HTML.

Every table p2pbench prints (`p2pbench table`, an ablation's summary, the report's tables) is
first built as a `TextTable`: a caption, a header, rows of cells (plain text, with a bold and a
significance-mark flag), groups of rows separated by a rule, notes, and the unformatted data
that CSV writes. The writers only escape and lay out; they never decide what a cell says.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from p2pbench.errors import BadInputError

FORMATS = ("md", "latex", "csv", "html")
_ALIASES = {"markdown": "md"}
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
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "×": r"$\times$",
    "±": r"$\pm$",
    "↑": r"$\uparrow$",
    "↓": r"$\downarrow$",
    "→": r"$\rightarrow$",
    "–": "--",
    "−": "$-$",
    "Δ": r"$\Delta$",
}


class TableFormatError(BadInputError, ValueError):
    """An unknown output format was asked for."""


def latex_escape(text: str) -> str:
    """`text` safe inside LaTeX (special characters, and the symbols our labels use)."""
    return "".join(_LATEX_ESCAPES.get(c, c) for c in text)


def markdown_escape(text: str) -> str:
    """`text` safe inside a Markdown table cell."""
    return text.replace("|", r"\|")


@dataclass(frozen=True)
class Cell:
    """One cell's text; `bold` for the best value of a column, `marked` for a significant
    difference (a star)."""

    text: str
    bold: bool = False
    marked: bool = False


@dataclass(frozen=True)
class TextTable:
    """A table ready to write (see the module docstring).

    `groups[i]` is the group of row i: a rule is drawn where it changes. The first
    `text_columns` columns are left-aligned, the others right-aligned. `data` is what CSV
    writes, unformatted. `html_class` names the table in HTML (the report's CSS uses it).
    """

    caption: str
    header: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    data: pd.DataFrame
    notes: tuple[str, ...] = ()
    groups: tuple[int, ...] = ()
    text_columns: int = 1
    html_class: str = "p2pbench-table"

    def __post_init__(self) -> None:
        width = len(self.header)
        bad = [i for i, row in enumerate(self.rows) if len(row) != width]
        if bad:
            raise ValueError(f"rows {bad} do not have the header's {width} cells")
        if self.groups and len(self.groups) != len(self.rows):
            raise ValueError(f"{len(self.groups)} groups for {len(self.rows)} rows")

    def rule_before(self, i: int) -> bool:
        return bool(self.groups) and i > 0 and self.groups[i] != self.groups[i - 1]


def check_format(fmt: str, what: str = "table") -> str:
    """The canonical name of `fmt` (`markdown` is `md`), or an error listing the formats."""
    fmt = _ALIASES.get(fmt, fmt)
    if fmt not in FORMATS:
        raise TableFormatError(f"unknown {what} format {fmt!r}; valid: {', '.join(FORMATS)}")
    return fmt


def write_table(table: TextTable, fmt: str, what: str = "table") -> str:
    """`table` as text in `fmt` (one of FORMATS, or `markdown`)."""
    writer = {"md": _markdown, "latex": _latex, "csv": _csv, "html": _html}
    return writer[check_format(fmt, what)](table)


def _cell(cell: Cell, fmt: str) -> str:
    text = _ESCAPE[fmt](cell.text)
    if cell.bold:
        text = {"md": "**{}**", "latex": r"\textbf{{{}}}", "html": "<b>{}</b>"}[fmt].format(text)
    if cell.marked:
        text += {"md": "*", "latex": "$^{*}$", "html": "<sup>*</sup>"}[fmt]
    return text


_ESCAPE: dict[str, Callable[[str], str]] = {
    "md": markdown_escape,
    "latex": latex_escape,
    "html": html.escape,
}


def _body(table: TextTable, fmt: str) -> list[list[str]]:
    return [[_cell(c, fmt) for c in row] for row in table.rows]


def _markdown(table: TextTable) -> str:
    header = [markdown_escape(h) for h in table.header]
    n_right = len(header) - table.text_columns
    align = [":--"] * table.text_columns + ["--:"] * n_right
    lines = [f"Table: {markdown_escape(table.caption)}", ""]
    lines += ["| " + " | ".join(r) + " |" for r in (header, align, *_body(table, "md"))]
    if table.notes:
        lines += [""] + [f"Note: {markdown_escape(n)}" for n in table.notes]
    return "\n".join(lines) + "\n"


def _latex(table: TextTable) -> str:
    n_right = len(table.header) - table.text_columns
    lines = [
        r"\begin{table}[t]",
        r"\centering",
        rf"\caption{{{latex_escape(table.caption)}}}",
        r"\begin{tabular}{" + "l" * table.text_columns + "r" * n_right + "}",
        r"\toprule",
        " & ".join(latex_escape(h) for h in table.header) + r" \\",
        r"\midrule",
    ]
    for i, cells in enumerate(_body(table, "latex")):
        if table.rule_before(i):
            lines.append(r"\midrule")
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    lines += [r"\par\smallskip{\footnotesize " + latex_escape(n) + "}" for n in table.notes]
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"


def _html(table: TextTable) -> str:
    esc = html.escape
    head = "".join(f"<th>{esc(h)}</th>" for h in table.header)
    body = []
    for i, cells in enumerate(_body(table, "html")):
        rule = ' class="rule"' if table.rule_before(i) else ""
        body.append(f"    <tr{rule}>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    notes = "".join(f'  <p class="note">Note: {esc(n)}</p>\n' for n in table.notes)
    return (
        f'<div class="p2pbench-table">\n<table class="{esc(table.html_class)}">\n'
        f"  <caption>{esc(table.caption)}</caption>\n"
        f"  <thead><tr>{head}</tr></thead>\n  <tbody>\n" + "\n".join(body) + "\n  </tbody>\n"
        f"</table>\n{notes}</div>\n"
    )


def _csv(table: TextTable) -> str:
    return table.data.to_csv(index=False, lineterminator="\n")
