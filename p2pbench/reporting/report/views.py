"""The report's view models: what the page shows, as plain strings, numbers and data URIs.

The template (`p2pbench/reporting/templates/report.html.j2`) renders these with autoescaping,
so a view model holds text as read from the files, never HTML. The one exception is `Fragment`:
a table already rendered, and escaped, by p2pbench's own table writers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True)
class Image:
    """An embedded PNG (`src` a data URI)."""

    src: str
    alt: str
    css_class: str = ""
    kind: ClassVar[str] = "image"


@dataclass(frozen=True)
class Missing:
    """A placeholder where a file is missing or changed (`why` its tooltip)."""

    text: str
    why: str = ""
    kind: ClassVar[str] = "missing"


Embedded = Image | Missing


@dataclass(frozen=True)
class Figure:
    """A chart and its caption."""

    image: Image
    caption: str


# --- blocks of the results section, in page order ------------------------------------------


@dataclass(frozen=True)
class Note:
    """A short grey paragraph (e.g. why a table is missing or how it was computed)."""

    text: str
    kind: ClassVar[str] = "note"


@dataclass(frozen=True)
class Heading:
    text: str
    kind: ClassVar[str] = "heading"


@dataclass(frozen=True)
class Fragment:
    """A table pre-rendered as HTML by p2pbench's table writers (`reporting.formats.render_table`
    or `reporting.ablation.render_summary`), which escape every string they are given."""

    html: str
    kind: ClassVar[str] = "fragment"


@dataclass(frozen=True)
class PaperRow:
    name: str
    cells: tuple[str, ...]


@dataclass(frozen=True)
class PaperTable:
    """A paper's published rows (context for results on a comparable protocol)."""

    caption: str
    headers: tuple[str, ...]
    rows: tuple[PaperRow, ...]
    kind: ClassVar[str] = "paper"


Block = Note | Heading | Fragment | PaperTable


# --- the samples grid ------------------------------------------------------------------------


@dataclass(frozen=True)
class GridColumn:
    label: str
    seed: str | None = None


@dataclass(frozen=True)
class GridRow:
    sample_id: str
    cells: tuple[Embedded, ...]


@dataclass(frozen=True)
class Grid:
    """Rows: sample ids; columns: input, one per variant, target."""

    columns: tuple[GridColumn, ...]
    rows: tuple[GridRow, ...]


# --- provenance ------------------------------------------------------------------------------

Definitions = tuple[tuple[str, str], ...]  # (term, text) pairs of a <dl>


@dataclass(frozen=True)
class ResultProvenance:
    label: str
    file: str
    items: Definitions


@dataclass(frozen=True)
class Provenance:
    protocols: tuple[Definitions, ...]
    results: tuple[ResultProvenance, ...]


# --- the page --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Header:
    title: str
    folder: str
    created: str
    version: str
    n_results: int
    plan: str | None


@dataclass(frozen=True)
class Page:
    """The whole report; `charts` empty shows a note, `curves` and `grid` empty are left out."""

    header: Header
    problems: tuple[str, ...]
    skipped: tuple[tuple[str, str], ...]
    tables: tuple[Block, ...]
    charts: tuple[Figure, ...]
    curves: tuple[Figure, ...]
    grid: Grid | None
    provenance: Provenance
