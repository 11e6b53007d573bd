"""Result folders for the report's tests (a plain folder, an ablation with a script-tag
variant) and a parser of the page they give."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import statistics
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from p2pbench.protocols import get_protocol
from p2pbench.results import Result

EVIL = "<script>alert(1)</script>"
VARIANTS = (("patch1", "1×1"), ("patch16", "16×16"), ("patch70", "70×70"), (EVIL, EVIL))
SEEDS = (0, 1)
SAMPLES = ("000003", "000010", "000042", "000077")
METRIC_KEYS = ("per_pixel_acc", "per_class_acc", "class_iou")
SIDE = 128


# ------------------------------------------------------------------------------------------
# Fixture folders


def protocol_record() -> dict[str, Any]:
    p = get_protocol("synthcity")
    data = {**p.as_dict(), "key": p.key, "digest": p.digest(), "split_used": "val"}
    return json.loads(json.dumps(data))


def write_png(path: Path, seed: int) -> dict[str, str]:
    """A smooth random 128-px image (like a photo: it compresses); its path and sha256."""
    rng = np.random.default_rng(seed)
    low = Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8))
    path.parent.mkdir(parents=True, exist_ok=True)
    low.resize((SIDE, SIDE), Image.BICUBIC).save(path)
    return {"sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


def make_result(metrics: dict[str, float], seed: int, name: str, **extra: Any) -> Result:
    return Result(
        protocol=protocol_record(),
        task="labels2photo",
        source={"kind": "generator", "name": name, "sha256": "ab" * 32, "path": f"{name}.pt"},
        n_images=4,
        limit=4,
        metrics=metrics,
        provenance={
            "versions": {"p2pbench": "0.1.0", "torch": "2.3"},
            "seed": seed,
            "device": "cpu",
            "data_sha256": "cd" * 32,
            "segmenter": {"name": "fcn-synthcity", "sha256": "ef" * 32},
            "command": ["p2pbench", "eval", "--gen", f"{name}.pt"],
            "created": "2024-01-01T00:00:00+00:00",
        },
        extra=extra,
    )


def fake_metrics(i: int, seed: int) -> dict[str, float]:
    return {m: round(0.3 + 0.1 * i + 0.02 * seed + 0.01 * k, 4) for k, m in enumerate(METRIC_KEYS)}


def make_ablation(root: Path) -> Path:
    """4 variants (one named like a script tag) × 2 seeds, 4 samples of 128 px, logs, summary."""
    plan = {
        "format": "p2pbench-ablation",
        "version": 1,
        "plan": "receptive-field",
        "title": "Receptive field of the discriminator",
        "reference_variant": "patch70",
        "protocol": protocol_record()["key"],
        "variants": [{"name": n, "label": label} for n, label in VARIANTS],
        "runs": [
            {"run_id": f"v{i}-seed{s}", "variant": n, "seed": s, "config": {}}
            for i, (n, _) in enumerate(VARIANTS)
            for s in SEEDS
        ],
    }
    root.mkdir(parents=True, exist_ok=True)
    (root / "plan.json").write_text(json.dumps(plan), encoding="utf-8")
    gt_dir = root / "ground-truth"
    samples = []
    for k, sid in enumerate(SAMPLES):
        samples.append(
            {
                "sample_id": sid,
                "input": {"path": f"samples/{sid}-input.png"}
                | write_png(gt_dir / f"samples/{sid}-input.png", 1000 + k),
                "target": {"path": f"samples/{sid}-target.png"}
                | write_png(gt_dir / f"samples/{sid}-target.png", 2000 + k),
            }
        )
    truth = {m: 0.9 for m in METRIC_KEYS}
    make_result(
        truth, 0, "real", ablation={"variant": "ground-truth", "label": "Ground truth"},
        samples=samples,
    ).write(gt_dir / "result.json")  # fmt: skip
    rows = []
    for i, (name, label) in enumerate(VARIANTS):
        values: dict[str, list[float]] = {m: [] for m in METRIC_KEYS}
        for seed in SEEDS:
            run_id = f"v{i}-seed{seed}"
            run = root / "runs" / run_id
            outputs = [
                {
                    "sample_id": sid,
                    "output": {"path": f"samples/{sid}.png"}
                    | write_png(run / f"samples/{sid}.png", 100 * i + 10 * seed + k),
                }
                for k, sid in enumerate(SAMPLES)
            ]
            metrics = fake_metrics(i, seed)
            for m in METRIC_KEYS:
                values[m].append(metrics[m])
            info = {"plan": "receptive-field", "variant": name, "label": label, "seed": seed}
            make_result(
                metrics, seed, name, ablation=info | {"run_id": run_id}, samples=outputs
            ).write(run / "result.json")
            log = [
                {
                    "step": s,
                    "epoch": s // 10,
                    "d_fake": 1 / (s + 1 + i + seed),
                    "g_l1": 2 - s / 50 - i / 9 - seed / 20,
                }
                for s in range(0, 50, 5)
            ]
            (run / "log.jsonl").write_text("".join(json.dumps(x) + "\n" for x in log))
        stats = {
            m: {
                "values": v,
                "mean": statistics.fmean(v),
                "std": statistics.stdev(v),
                "low": min(v) - 0.01,
                "high": max(v) + 0.01,
            }
            for m, v in values.items()
        }
        versus = (
            None
            if name == "patch70"
            else {
                m: {"observed": 0.1 * (i - 2), "low": -0.05, "high": 0.05, "significant": i == 0}
                for m in METRIC_KEYS
            }
        )
        rows.append(
            {"variant": name, "label": label, "seeds": list(SEEDS), "n": len(SEEDS)}
            | {"metrics": stats, "vs_reference": versus}
        )
    summary = {
        "format": "p2pbench-ablation-summary",
        "version": 1,
        "plan": "receptive-field",
        "title": plan["title"],
        "protocol": protocol_record()["key"],
        "reference_variant": "patch70",
        "metrics": list(METRIC_KEYS),
        "bootstrap": {"draws": 1000, "seed": 0, "level": 0.95, "metrics": list(METRIC_KEYS)},
        "rows": rows,
        "ground_truth": {"label": "Ground truth", "metrics": truth},
        "missing_runs": [],
    }
    (root / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    return root


def make_plain(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    make_result(fake_metrics(0, 0), 0, "l1").write(root / "l1.json")
    make_result(fake_metrics(2, 0), 0, "l1cgan").write(root / "nested" / "l1cgan.json")
    return root


# ------------------------------------------------------------------------------------------
# Reading the page


class Page(HTMLParser):
    """Every <img> (with the section and table it lies in) and every table row's text."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.images: list[dict[str, Any]] = []
        self.rows: list[tuple[str, str, list[str]]] = []  # (section, table class, cells)
        self.section = ""
        self.tables: list[str] = []
        self.row: list[str] | None = None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "section":
            self.section = a.get("id") or ""
        elif tag == "table":
            self.tables.append(a.get("class") or "")
        elif tag == "tr":
            self.row = []
        elif tag in ("td", "th") and self.row is not None:
            self.row.append("")
        elif tag == "img":
            self.images.append(a | {"section": self.section, "table": self._table()})

    def handle_endtag(self, tag: str) -> None:
        if tag == "table" and self.tables:
            self.tables.pop()
        elif tag == "tr" and self.row is not None:
            self.rows.append((self.section, self._table(), [c.strip() for c in self.row]))
            self.row = None

    def handle_data(self, data: str) -> None:
        if self.row:
            self.row[-1] += data

    def _table(self) -> str:
        return self.tables[-1] if self.tables else ""


def decode(src: str) -> Image.Image:
    prefix = "data:image/png;base64,"
    assert src.startswith(prefix), src[:40]
    im = Image.open(io.BytesIO(base64.b64decode(src[len(prefix) :], validate=True)))
    assert im.format == "PNG"
    im.load()
    return im


def not_blank(im: Image.Image) -> None:
    pixels = np.asarray(im.convert("RGB"))
    assert pixels.std() > 0
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 1
