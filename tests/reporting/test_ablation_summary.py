"""Ablation summary: per-variant seed statistics, the paired bootstrap against the reference,
refusals, and every rendering (escaping included), on small synthetic results."""

from __future__ import annotations

import copy
import csv
import io
import json
import math
import statistics
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import torch

from p2pbench.metrics.fcn_score import fcn_scores
from p2pbench.reporting.ablation import render_summary, summarize
from p2pbench.results import Result

T_0975_DF2 = 4.302652729911275  # Student t, 97.5% quantile, 2 degrees of freedom (tables)
DIGEST = "d" * 64
N_IMAGES = 12
FCN = ("per_pixel_acc", "per_class_acc", "class_iou")
ODD = "<script>alert(1)</script> a_b & c"

PLAN = {
    "format": "p2pbench-ablation",
    "version": 1,
    "plan": "receptive-field",
    "title": "Receptive field of the discriminator (pix2pix Table 3)",
    "reference_variant": "patch70",
    "protocol": "synthcity@v2",
    "variants": [
        {"name": "patch1", "label": "1×1"},
        {"name": "patch70", "label": "70×70"},
        {"name": "odd_variant", "label": ODD},
        {"name": "patch286", "label": "286×286"},
    ],
    "runs": [
        {"run_id": f"{v}-seed{s}", "variant": v, "seed": s}
        for v in ("patch1", "patch70", "odd_variant", "patch286")
        for s in (0, 1, 2)
    ],
    "notes": "ignored",
}


def _hists(seed: int, quality: float) -> np.ndarray:
    """N_IMAGES 3×3 confusion histograms; `quality` of the pixels on the diagonal."""
    rng = np.random.default_rng(seed)
    gt = rng.integers(50, 150, size=(N_IMAGES, 3))
    right = rng.binomial(gt, quality)
    h = np.zeros((N_IMAGES, 3, 3), dtype=np.int64)
    for c in range(3):
        h[:, c, c] = right[:, c]
        h[:, c, (c + 1) % 3] = gt[:, c] - right[:, c]
    return h


def make_result(
    seed: int,
    hists: np.ndarray | None,
    *,
    extra_metrics: dict | None = None,
    digest: str = DIGEST,
    kind: str = "generator",
    path: str | None = None,
    order: list[int] | None = None,
) -> Result:
    metrics: dict = {}
    per_image = None
    if hists is not None:
        total = fcn_scores(torch.from_numpy(hists.sum(axis=0)))
        metrics = {m: total[m] for m in FCN}
        idx = order or list(range(len(hists)))
        per_image = [{"sample_id": f"img{i:02d}", "confusion": hists[i].tolist()} for i in idx]
    metrics.update(extra_metrics or {})
    return Result(
        protocol={"key": "synthcity@v2", "digest": digest, "name": "synthcity", "version": 2},
        task="labels2photo",
        source={"kind": kind, **({"run": {"seed": seed}} if kind == "generator" else {})},
        n_images=N_IMAGES,
        limit=None,
        metrics=metrics,
        provenance={"seed": 0},
        per_image=per_image,
        path=path,
    )


QUALITY = {"patch1": 0.45, "patch70": 0.7, "odd_variant": 0.69}


def _results() -> dict[str, list[Result]]:
    out: dict[str, list[Result]] = {}
    for v, q in QUALITY.items():
        seeds = (0, 1) if v == "odd_variant" else (0, 1, 2)
        out[v] = [
            make_result(
                s,
                _hists(100 * len(v) + s, q),
                extra_metrics={
                    "psnr": 20.0 + s + q,
                    "fid": {"available": False, "reason": "no Inception weights"},
                    **({"l1": 0.1} if s else {}),  # missing in seed 0: not a summary metric
                },
            )
            for s in seeds
        ]
    return out


@pytest.fixture(scope="module")
def summary() -> dict:
    gt = make_result(0, _hists(999, 0.9), kind="real", extra_metrics={"psnr": 99.0})
    return summarize(PLAN, _results(), gt, draws=300, seed=0).to_dict()  # summary.json


def test_seed_statistics_per_variant(summary: dict) -> None:
    assert summary["format"] == "p2pbench-ablation-summary" and summary["version"] == 1
    assert (summary["plan"], summary["protocol"]) == ("receptive-field", "synthcity@v2")
    assert summary["title"] == PLAN["title"] and summary["reference_variant"] == "patch70"
    assert summary["metrics"] == [*FCN, "psnr"]  # keys.py order; l1 not in every result
    assert [r["variant"] for r in summary["rows"]] == [v["name"] for v in PLAN["variants"]]
    results = _results()
    row = summary["rows"][0]
    assert (row["label"], row["seeds"], row["n"]) == ("1×1", [0, 1, 2], 3)
    for m in [*FCN, "psnr"]:
        values = [r.metrics[m] for r in results["patch1"]]
        got = row["metrics"][m]
        mean, sd = statistics.mean(values), statistics.stdev(values)
        half = T_0975_DF2 * sd / math.sqrt(3)
        assert got["values"] == pytest.approx(values, abs=1e-15)
        assert got["mean"] == pytest.approx(mean, abs=1e-12)
        assert got["std"] == pytest.approx(sd, abs=1e-12)
        assert got["low"] == pytest.approx(mean - half, abs=1e-9)
        assert got["high"] == pytest.approx(mean + half, abs=1e-9)
    assert row["unavailable"] == {"fid": "no Inception weights"}


def test_reference_row_empty_variant_ground_truth_and_missing_runs(summary: dict) -> None:
    ref, odd, empty = summary["rows"][1], summary["rows"][2], summary["rows"][3]
    assert ref["vs_reference"] is None and ref["n"] == 3
    assert odd["n"] == 2 and odd["seeds"] == [0, 1]
    assert (empty["n"], empty["seeds"], empty["metrics"], empty["vs_reference"]) == (
        0,
        [],
        {},
        None,
    )
    assert summary["ground_truth"]["label"] == "Ground truth"
    assert summary["ground_truth"]["metrics"]["psnr"] == 99.0
    assert set(summary["ground_truth"]["metrics"]) == {*FCN, "psnr"}
    assert summary["missing_runs"] == [
        "odd_variant-seed2",
        "patch286-seed0",
        "patch286-seed1",
        "patch286-seed2",
    ]
    assert summary["bootstrap"]["draws"] == 300 and summary["bootstrap"]["seed"] == 0
    assert summary["bootstrap"]["level"] == 0.95 and summary["bootstrap"]["metrics"] == list(FCN)
    # plain JSON types only
    assert json.loads(json.dumps(summary, allow_nan=False)) == summary


def test_vs_reference_is_the_pooled_difference(summary: dict) -> None:
    results = _results()

    def pooled(v: str) -> torch.Tensor:
        return torch.tensor(
            sum(np.array([e["confusion"] for e in r.per_image]) for r in results[v]).sum(axis=0)
        )

    ref = fcn_scores(pooled("patch70"))
    for row in (summary["rows"][0], summary["rows"][2]):
        mine = fcn_scores(pooled(row["variant"]))
        assert set(row["vs_reference"]) == set(FCN)
        for m in FCN:
            d = row["vs_reference"][m]
            assert d["observed"] == pytest.approx(mine[m] - ref[m], abs=1e-12)
            assert d["low"] <= d["observed"] <= d["high"]
            assert d["significant"] == (d["low"] > 0 or d["high"] < 0)
    # 1×1 is much worse than 70×70: significant; odd_variant is about equal
    assert all(summary["rows"][0]["vs_reference"][m]["significant"] for m in FCN)
    assert summary["rows"][0]["vs_reference"]["per_pixel_acc"]["high"] < 0


def test_bootstrap_pairs_images_by_sample_id() -> None:
    base = _results()
    shuffled = copy.copy(base)
    order = list(reversed(range(N_IMAGES)))
    shuffled["patch1"] = [
        make_result(
            s,
            np.array([e["confusion"] for e in r.per_image]),
            extra_metrics={k: v for k, v in r.metrics.items() if k not in FCN},
            order=order,
        )
        for s, r in enumerate(base["patch1"])
    ]
    a = summarize(PLAN, base, None, draws=200)
    b = summarize(PLAN, shuffled, None, draws=200)
    assert a.rows[0].vs_reference == b.rows[0].vs_reference
    assert a.ground_truth is None


def test_missing_confusions_give_no_comparison_but_a_reason() -> None:
    results = _results()
    r = results["patch1"][0]
    results["patch1"][0] = Result(**{**r.__dict__, "per_image": None})
    out = summarize(PLAN, results, None, draws=50)
    assert out.rows[0].vs_reference is None
    assert "per-image" in str(out.rows[0].vs_reference_reason)
    assert out.rows[2].vs_reference is not None
    assert "±" in render_summary(out, "markdown")


def test_refusals() -> None:
    results = _results()
    results["patch1"][1] = make_result(1, _hists(1, 0.5), digest="e" * 64, path="odd.json")
    with pytest.raises(ValueError, match=r"digest.*patch1 seed 1 \(odd\.json\)"):
        summarize(PLAN, results, None)
    gt_elsewhere = make_result(0, _hists(2, 0.9), kind="real", digest="f" * 64, path="gt.json")
    with pytest.raises(ValueError, match="ground truth"):
        summarize(PLAN, _results(), gt_elsewhere)
    with pytest.raises(ValueError, match="nope"):
        summarize(PLAN, {**_results(), "nope": []}, None)
    dup = _results()
    dup["patch1"].append(dup["patch1"][0])
    with pytest.raises(ValueError, match="inflate"):
        summarize(PLAN, dup, None)
    other_images = _results()
    r = other_images["patch1"][0]
    renamed = [{**e, "sample_id": "x" + e["sample_id"]} for e in r.per_image]
    other_images["patch1"][0] = Result(**{**r.__dict__, "per_image": renamed})
    with pytest.raises(ValueError, match="same images"):
        summarize(PLAN, other_images, None, draws=20)
    with pytest.raises(ValueError, match="reference_variant"):
        summarize({**PLAN, "reference_variant": "patch9"}, _results(), None)


# --------------------------------------------------------------------------- rendering


def test_markdown_rows_cells_and_footnote(summary: dict) -> None:
    text = render_summary(summary, "markdown")
    lines = text.splitlines()
    header = next(line for line in lines if line.startswith("| Variant"))
    assert "Per-pixel acc. ↑" in header and "Class IoU ↑" in header and "PSNR ↑" in header
    assert "Δ Per-pixel acc. vs 70×70" in header
    rows = {line.split("|")[1].strip(): line for line in lines if line.startswith("| ")}
    for label in ("1×1", "70×70", ODD.replace("|", r"\|")):
        assert "±" in rows[label], label
    m = summary["rows"][0]["metrics"]["per_pixel_acc"]
    assert f"{m['mean']:.3f} ± {m['std']:.3f} [{m['low']:.3f}, {m['high']:.3f}]" in rows["1×1"]
    d = summary["rows"][0]["vs_reference"]["per_pixel_acc"]
    signed = f"{d['observed']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}]*".replace("-", "−")
    assert signed in rows["1×1"]
    assert "ref." in rows["70×70"]
    assert rows["Ground truth"].count("±") == 0 and "99.000" in rows["Ground truth"]
    assert (
        "± : std over seeds; [ ]: 95% t-interval over seeds; Δ: paired bootstrap over val "
        "images (300 draws, seed 0), * = 95% interval excludes 0"
    ) in text
    assert f"FID unavailable for 1×1, 70×70, {ODD}: no Inception weights" in text
    assert "missing runs: odd_variant-seed2, patch286-seed0" in text


def test_html_escapes_labels_and_is_well_formed(summary: dict) -> None:
    text = render_summary(summary, "html")
    assert "<script>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; a_b &amp; c" in text
    root = ET.fromstring(text)
    rows = root.findall(".//tbody/tr")
    assert len(rows) == len(PLAN["variants"]) + 1
    assert rows[2].find("td").text == ODD  # rendered as text, not markup
    assert "±" in "".join(rows[0].itertext())


def test_latex_escapes_and_csv_is_data(summary: dict) -> None:
    tex = render_summary(summary, "latex")
    assert (
        r"\textless{}script\textgreater{}alert(1)\textless{}/script\textgreater{} a\_b \& c" in tex
    )
    assert r"$\pm$" in tex and r"1$\times$1" in tex and r"$\Delta$" in tex
    body = tex.split(r"\midrule")[1]
    assert "_" not in body.replace(r"\_", "")  # every underscore from a label is escaped
    assert " & c" not in body  # the label's & is escaped, not a column separator

    text = render_summary(summary, "csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    expected = ["variant", "label", "n"]
    for m in [*FCN, "psnr"]:
        expected += [f"{m}_mean", f"{m}_std", f"{m}_low", f"{m}_high"]
    for m in FCN:
        expected += [f"delta_{m}", f"delta_{m}_low", f"delta_{m}_high", f"delta_{m}_significant"]
    assert list(rows[0]) == expected
    assert [r["variant"] for r in rows] == [*(v["name"] for v in PLAN["variants"]), "ground_truth"]
    assert rows[2]["label"] == ODD
    first = summary["rows"][0]
    assert float(rows[0]["class_iou_mean"]) == first["metrics"]["class_iou"]["mean"]
    assert float(rows[0]["psnr_high"]) == first["metrics"]["psnr"]["high"]
    assert int(rows[0]["n"]) == 3 and rows[3]["n"] == "0" and rows[3]["per_pixel_acc_mean"] == ""
    assert rows[1]["delta_class_iou"] == ""  # the reference row
    assert float(rows[0]["delta_class_iou"]) == first["vs_reference"]["class_iou"]["observed"]
    assert rows[0]["delta_class_iou_significant"] == "True"

    with pytest.raises(ValueError, match="unknown summary format"):
        render_summary(summary, "pdf")
