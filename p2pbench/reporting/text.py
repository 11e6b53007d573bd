"""Plain-text rendering of one result for the terminal."""

from __future__ import annotations

from typing import Any

FCN_ROWS = (
    ("per_pixel_acc", "per-pixel acc."),
    ("per_class_acc", "per-class acc."),
    ("class_iou", "class IoU"),
)
OTHER_ROWS = (
    ("fid", "FID"),
    ("is_mean", "IS"),
    ("is_std", "IS std"),
    ("kid_mean", "KID"),
    ("kid_std", "KID std"),
    ("l1", "L1 (/255)"),
    ("psnr", "PSNR (dB)"),
    ("ssim", "SSIM"),
    ("lpips", "LPIPS"),
)


def format_result(result: dict[str, Any]) -> str:
    """The metrics, the per-class table and the counts, as aligned text."""
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
    ]
    lines += [_row(label, m[key]) for key, label in (*FCN_ROWS, *OTHER_ROWS) if key in m]
    unavailable = {
        v["reason"] for v in m.values() if isinstance(v, dict) and v.get("available") is False
    }
    lines += [f"  unavailable: {reason}" for reason in sorted(unavailable)]
    if "per_class" in m:
        lines += ["", f"{'class':<16}{'acc':>8}{'IoU':>8}"]
        lines += [
            f"{name:<16}{v['acc']:>8.4f}{v['iou']:>8.4f}" for name, v in m["per_class"].items()
        ]
    notable = {k: v for k, v in (result.get("counts") or {}).items() if k != "frames" and v}
    if notable:
        lines += ["", "counts: " + ", ".join(f"{k}={v}" for k, v in notable.items())]
    return "\n".join(lines)


def _row(label: str, value: Any) -> str:
    if isinstance(value, (int, float)):
        return f"{label:<16}{value:.4f}"
    return f"{label:<16}unavailable"
