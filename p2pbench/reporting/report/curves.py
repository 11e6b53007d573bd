"""The report's training curves: one chart per loss, one line per run, from each `log.jsonl`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from p2pbench.reporting import charts
from p2pbench.reporting.report.embed import figure
from p2pbench.reporting.report.folder import Folder
from p2pbench.reporting.report.shapes import (
    in_ablation,
    read_training_log,
    run_label,
    run_seed,
    run_variant,
    seed_text,
    training_log_path,
)
from p2pbench.reporting.report.views import Figure
from p2pbench.results import Result

MAX_POINTS = 2000  # per curve; a longer log is thinned to every k-th point


def training_curves(folder: Folder, runs: Sequence[Result], labels: dict[int, str]) -> list[Figure]:
    """One chart per loss, one line per run with a log beside its result: a colour per variant,
    a line style per seed. `labels` names the results outside an ablation (by `id`)."""
    curves: dict[str, list[charts.Curve]] = {}
    groups: dict[str, int] = {}
    logged = [(r, path) for r in runs if (path := training_log_path(r)) is not None]
    seeds = sorted({run_seed(r) for r, _ in logged if in_ablation(r)})
    for r, path in logged:
        ablated = in_ablation(r)
        name = str(run_variant(r)) if ablated else labels[id(r)]
        group = groups.setdefault(name, len(groups))
        style = seeds.index(run_seed(r)) if ablated else 0
        seed = f"seed {seed_text(r)}" if ablated else ""
        label = run_label(r) if ablated else labels[id(r)]
        for loss, (steps, values) in _series(folder, path).items():
            curves.setdefault(loss, []).append(
                charts.Curve(label, steps, values, group, style, seed)
            )
    return [
        figure(charts.curves_chart(c, title=f"training loss {loss}", ylabel=loss), loss)
        for loss, c in curves.items()
    ]


def _series(folder: Folder, path: Path) -> dict[str, tuple[list[float], list[float]]]:
    """The log's losses, thinned to at most about MAX_POINTS points; problems listed."""
    try:
        log = read_training_log(path)
    except (OSError, UnicodeDecodeError) as err:
        folder.problems.append(f"unreadable training log {folder.rel(path)}: {err}")
        return {}
    if log.bad_lines:
        folder.problems.append(f"{folder.rel(path)}: {log.bad_lines} line(s) are not JSON objects")
    longest = max((len(s) for s, _ in log.series.values()), default=0)
    stride = max(1, longest // MAX_POINTS)
    return {k: (s[::stride], v[::stride]) for k, (s, v) in log.series.items()}
