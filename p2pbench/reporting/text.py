"""Plain-text rendering of one result for the terminal."""

from __future__ import annotations

from typing import Any

from p2pbench.metrics.keys import METRICS
from p2pbench.results import Result


def format_result(result: Result) -> str:
    """The metrics, the per-class table and the counts, as aligned text."""
    m, p, src = result.metrics, result.protocol, result.source
    what = src.get("name") or src.get("path") or src["kind"]
    comparable = "paper-comparable" if p["paper_comparable"] else "not paper-comparable"
    lines = [
        f"protocol {p['key']} ({comparable})",
        f"source   {src['kind']}: {what}",
        f"images   {result.n_images}"
        + (f" (limit {result.limit})" if result.limit else "")
        + (f", {len(result.missing)} missing" if result.missing else ""),
        "",
    ]
    lines += [
        _row(key.display, m[name])
        for name, key in METRICS.items()
        if name in m and name != "per_class"
    ]
    unavailable = {
        v["reason"] for v in m.values() if isinstance(v, dict) and v.get("available") is False
    }
    lines += [f"  unavailable: {reason}" for reason in sorted(unavailable)]
    if "per_class" in m:
        lines += ["", f"{'class':<16}{'acc':>8}{'IoU':>8}"]
        lines += [
            f"{name:<16}{v['acc']:>8.4f}{v['iou']:>8.4f}" for name, v in m["per_class"].items()
        ]
    notable = {k: v for k, v in result.counts.items() if k != "frames" and v}
    if notable:
        lines += ["", "counts: " + ", ".join(f"{k}={v}" for k, v in notable.items())]
    return "\n".join(lines)


def _row(label: str, value: Any) -> str:
    if isinstance(value, (int, float)):
        return f"{label:<16}{value:.4f}"
    return f"{label:<16}unavailable"
