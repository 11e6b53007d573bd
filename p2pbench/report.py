"""Plain-text rendering of one result for the terminal."""

from __future__ import annotations

from typing import Any


def format_result(result: dict[str, Any]) -> str:
    """The three FCN-scores, the per-class table and the counts, as aligned text."""
    m, p, src = result["metrics"], result["protocol"], result["source"]
    what = src.get("name") or src.get("path") or src["kind"]
    comparable = "paper-comparable" if p["paper_comparable"] else "not paper-comparable"
    lines = [
        f"protocol {p['key']} ({comparable})",
        f"source   {src['kind']}: {what}",
        f"images   {result['n_images']}"
        + (f" (limit {result['limit']})" if result["limit"] else "")
        + (f", {len(result['missing'])} missing" if result.get("missing") else ""),
        "",
        f"{'per-pixel acc.':<16}{m['per_pixel_acc']:.4f}",
        f"{'per-class acc.':<16}{m['per_class_acc']:.4f}",
        f"{'class IoU':<16}{m['class_iou']:.4f}",
        "",
        f"{'class':<16}{'acc':>8}{'IoU':>8}",
    ]
    lines += [f"{name:<16}{v['acc']:>8.4f}{v['iou']:>8.4f}" for name, v in m["per_class"].items()]
    counts = result.get("counts") or {}
    notable = {k: v for k, v in counts.items() if k != "frames" and v}
    if notable:
        lines += ["", "counts: " + ", ".join(f"{k}={v}" for k, v in notable.items())]
    return "\n".join(lines)
