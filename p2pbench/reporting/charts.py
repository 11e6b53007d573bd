"""Charts for the HTML report, as PNG bytes (matplotlib, Agg canvas, no global pyplot state).

Every chart is a `matplotlib.figure.Figure` drawn on its own Agg canvas, so rendering never
touches pyplot's global figure registry or the user's backend. Text from files (variant labels,
loss names) is drawn literally: `$` is escaped so that it never starts matplotlib's mathtext.
The PNG carries no metadata (matplotlib would otherwise write its web address into it).
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

SIZE = (5.0, 3.0)  # inches
DPI = 100
_COLORS = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
_SEED_STYLES = ("-", "--", ":", "-.")


@dataclass(frozen=True)
class Point:
    """One variant (or one result) on a metric chart.

    `value` the mean (None: not available, drawn as a gap); `low`/`high` the interval drawn as
    an error bar; `values` the individual seeds' numbers, drawn as dots.
    """

    label: str
    value: float | None
    low: float | None = None
    high: float | None = None
    values: tuple[float, ...] = ()
    highlight: bool = False


@dataclass(frozen=True)
class Curve:
    """One run's training curve: `group` picks the colour (a variant, named `label` in the
    legend), `style` the line style (a seed, named `style_label`; "" for none)."""

    label: str
    steps: Sequence[float]
    values: Sequence[float]
    group: int = 0
    style: int = 0
    style_label: str = ""


@dataclass(frozen=True)
class Line:
    """A horizontal reference line (e.g. the ground truth)."""

    value: float
    label: str


def literal(text: str) -> str:
    """`text` as matplotlib shows it verbatim (no mathtext)."""
    return text.replace("$", r"\$")


def metric_chart(
    points: Sequence[Point],
    *,
    title: str,
    ylabel: str,
    reference: Line | None = None,
    bars: bool = False,
) -> bytes:
    """A point (or bar) per entry with its interval as error bar and seed values as dots."""
    fig = Figure(figsize=SIZE, dpi=DPI)
    ax = fig.add_subplot()
    xs = list(range(len(points)))
    for x, p in zip(xs, points, strict=True):
        color = _COLORS[3] if p.highlight else _COLORS[0]
        if p.value is None or not math.isfinite(p.value):
            ax.text(x, 0.5, "n/a", ha="center", transform=ax.get_xaxis_transform(), color="0.4")
            continue
        if bars:
            ax.bar(x, p.value, width=0.6, color=color, alpha=0.75)
        if p.low is not None and p.high is not None:
            err = [[max(p.value - p.low, 0.0)], [max(p.high - p.value, 0.0)]]
            ax.errorbar(x, p.value, yerr=err, fmt="none", ecolor="0.15", capsize=5, lw=1.3)
        if not bars:
            ax.plot([x], [p.value], marker="D", ms=7, color=color, zorder=3)
        if p.values:
            n = len(p.values)
            offsets = [0.18 * ((i - (n - 1) / 2) / max(n - 1, 1)) for i in range(n)]
            ax.scatter(
                [x + 0.22 + o for o in offsets],
                p.values,
                s=16,
                color="0.3",
                alpha=0.8,
                zorder=4,
                linewidths=0,
            )
    if reference is not None and math.isfinite(reference.value):
        ax.axhline(
            reference.value, ls="--", lw=1.2, color="#2ca02c", label=literal(reference.label)
        )
        ax.legend(loc="best", fontsize=8, frameon=False)
    ax.set_xticks(xs)
    ax.set_xticklabels([literal(_short(p.label)) for p in points], fontsize=8)
    if len(points) > 4 or max((len(p.label) for p in points), default=0) > 12:
        for tick in ax.get_xticklabels():
            tick.set_rotation(25)
            tick.set_horizontalalignment("right")
    ax.set_xlim(-0.6, len(points) - 0.4)
    ax.set_title(literal(title), fontsize=10)
    ax.set_ylabel(literal(ylabel), fontsize=9)
    ax.grid(axis="y", alpha=0.3)
    ax.tick_params(axis="y", labelsize=8)
    return _png(fig)


def curves_chart(
    curves: Sequence[Curve], *, title: str, xlabel: str = "step", ylabel: str = ""
) -> bytes:
    """One line per run; a colour per group (variant), a line style per seed; the legend names
    each colour once and each line style once."""
    fig = Figure(figsize=SIZE, dpi=DPI)
    ax = fig.add_subplot()
    colors: dict[int, str] = {}
    styles: dict[int, str] = {}
    for c in curves:
        if not c.steps:
            continue
        color = _COLORS[c.group % len(_COLORS)]
        style = _SEED_STYLES[c.style % len(_SEED_STYLES)]
        ax.plot(c.steps, c.values, color=color, ls=style, lw=1.2)
        colors.setdefault(c.group, c.label)
        if c.style_label:
            styles.setdefault(c.style, c.style_label)
    handles = [
        Line2D([], [], color=_COLORS[g % len(_COLORS)], lw=2, label=literal(_short(label)))
        for g, label in colors.items()
    ]
    if len(styles) > 1:
        handles += [
            Line2D([], [], color="0.3", ls=_SEED_STYLES[i % len(_SEED_STYLES)], label=literal(lab))
            for i, lab in sorted(styles.items())
        ]
    ax.set_title(literal(title), fontsize=10)
    ax.set_xlabel(literal(xlabel), fontsize=9)
    if ylabel:
        ax.set_ylabel(literal(ylabel), fontsize=9)
    ax.grid(alpha=0.3)
    ax.tick_params(labelsize=8)
    if handles:
        ax.legend(handles=handles, fontsize=7, frameon=True, framealpha=0.85, loc="best",
                  ncols=2 if len(handles) > 6 else 1)  # fmt: skip
    return _png(fig)


def _short(label: str, width: int = 28) -> str:
    return label if len(label) <= width else label[: width - 1] + "…"


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()
