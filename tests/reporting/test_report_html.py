"""`p2pbench report`: one self-contained HTML page of a results folder (plain or ablation)."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
import json
import re
import statistics
from html.parser import HTMLParser
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from p2pbench.cli import main
from p2pbench.protocols import get_protocol
from p2pbench.reporting.html import build_report, write_report
from p2pbench.results import Result

EVIL = "<script>alert(1)</script>"
VARIANTS = (("patch1", "1×1"), ("patch16", "16×16"), ("patch70", "70×70"), (EVIL, EVIL))
SEEDS = (0, 1)
SAMPLES = ("000003", "000010", "000042", "000077")
METRIC_KEYS = ("per_pixel_acc", "per_class_acc", "class_iou")
SIDE = 128


# ------------------------------------------------------------------------------------------
# Fixture folders


def _protocol() -> dict[str, Any]:
    p = get_protocol("synthcity")
    data = {**p.as_dict(), "key": p.key, "digest": p.digest(), "split_used": "val"}
    return json.loads(json.dumps(data))


def _png(path: Path, seed: int) -> dict[str, str]:
    """A smooth random 128-px image (like a photo: it compresses); its path and sha256."""
    rng = np.random.default_rng(seed)
    low = Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8))
    path.parent.mkdir(parents=True, exist_ok=True)
    low.resize((SIDE, SIDE), Image.BICUBIC).save(path)
    return {"sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


def _result(metrics: dict[str, float], seed: int, name: str, **extra: Any) -> Result:
    return Result(
        protocol=_protocol(),
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


def _metrics(i: int, seed: int) -> dict[str, float]:
    return {m: round(0.3 + 0.1 * i + 0.02 * seed + 0.01 * k, 4) for k, m in enumerate(METRIC_KEYS)}


def make_ablation(root: Path) -> Path:
    """4 variants (one named like a script tag) × 2 seeds, 4 samples of 128 px, logs, summary."""
    plan = {
        "format": "p2pbench-ablation",
        "version": 1,
        "plan": "receptive-field",
        "title": "Receptive field of the discriminator",
        "reference_variant": "patch70",
        "protocol": _protocol()["key"],
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
                | _png(gt_dir / f"samples/{sid}-input.png", 1000 + k),
                "target": {"path": f"samples/{sid}-target.png"}
                | _png(gt_dir / f"samples/{sid}-target.png", 2000 + k),
            }
        )
    truth = {m: 0.9 for m in METRIC_KEYS}
    _result(
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
                    | _png(run / f"samples/{sid}.png", 100 * i + 10 * seed + k),
                }
                for k, sid in enumerate(SAMPLES)
            ]
            metrics = _metrics(i, seed)
            for m in METRIC_KEYS:
                values[m].append(metrics[m])
            info = {"plan": "receptive-field", "variant": name, "label": label, "seed": seed}
            _result(metrics, seed, name, ablation=info | {"run_id": run_id}, samples=outputs).write(
                run / "result.json"
            )
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
        "protocol": _protocol()["key"],
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
    _result(_metrics(0, 0), 0, "l1").write(root / "l1.json")
    _result(_metrics(2, 0), 0, "l1cgan").write(root / "nested" / "l1cgan.json")
    return root


@pytest.fixture(scope="module")
def ablation(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    root = make_ablation(tmp_path_factory.mktemp("report") / "ablation")
    return root, build_report(root)


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


def _decode(src: str) -> Image.Image:
    prefix = "data:image/png;base64,"
    assert src.startswith(prefix), src[:40]
    im = Image.open(io.BytesIO(base64.b64decode(src[len(prefix) :], validate=True)))
    assert im.format == "PNG"
    im.load()
    return im


def _not_blank(im: Image.Image) -> None:
    pixels = np.asarray(im.convert("RGB"))
    assert pixels.std() > 0
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 1


# ------------------------------------------------------------------------------------------
# Tests


def test_every_chart_is_a_valid_non_blank_png(ablation: tuple[Path, str]) -> None:
    page = Page(ablation[1])
    metric_charts = [i for i in page.images if i["section"] == "charts"]
    curve_charts = [i for i in page.images if i["section"] == "curves"]
    assert len(metric_charts) == len(METRIC_KEYS)
    assert len(curve_charts) == 2  # d_fake, g_l1: one chart per loss
    for img in metric_charts + curve_charts:
        im = _decode(img["src"])
        assert im.size == (500, 300)
        _not_blank(im)


def test_image_grid_has_input_each_variant_and_target_per_sample(
    ablation: tuple[Path, str],
) -> None:
    page = Page(ablation[1])
    grid = [i for i in page.images if i["table"] == "grid"]
    assert len(grid) == len(SAMPLES) * (2 + len(VARIANTS))
    for img in grid:
        assert img["alt"]
        _not_blank(_decode(img["src"]))
    assert "missing/changed" not in ablation[1]


def _table_rows(text: str) -> list[list[str]]:
    return [cells for section, _, cells in Page(text).rows if section == "tables"]


def _check_variant_rows(rows: list[list[str]]) -> None:
    for _, label in VARIANTS:
        row = [cells for cells in rows if cells[0] == label]
        assert len(row) == 1, (label, rows)
        assert sum("±" in c for c in row[0]) == len(METRIC_KEYS), row
    assert any(cells[0] == "Ground truth" for cells in rows)


def test_every_variant_row_shows_mean_pm_std(ablation: tuple[Path, str]) -> None:
    _check_variant_rows(_table_rows(ablation[1]))


def test_self_contained_escaped_and_small(ablation: tuple[Path, str]) -> None:
    text = ablation[1]
    for src in re.findall(r"""src=["']([^"']*)""", text):
        assert src.startswith("data:image/png;base64,")
    without_data = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", text)
    for bad in ("http://", "https://", "//", "<script", "url("):
        assert bad not in without_data, bad
    for data in re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", text):
        assert b"http" not in base64.b64decode(data)  # no address in PNG metadata either
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert len(text.encode()) < 3_000_000
    assert text.startswith("<!DOCTYPE html>")


def test_a_changed_sample_file_shows_a_placeholder(tmp_path: Path) -> None:
    root = make_ablation(tmp_path / "ablation")
    changed = root / "runs" / "v0-seed0" / "samples" / f"{SAMPLES[1]}.png"
    _png(changed, 999)  # different pixels: the recorded sha256 no longer matches
    (root / "ground-truth" / "samples" / f"{SAMPLES[2]}-target.png").unlink()
    text = build_report(root)
    assert f"missing/changed: runs/v0-seed0/samples/{SAMPLES[1]}.png" in text
    assert f"missing/changed: ground-truth/samples/{SAMPLES[2]}-target.png" in text
    grid = [i for i in Page(text).images if i["table"] == "grid"]
    assert len(grid) == len(SAMPLES) * (2 + len(VARIANTS)) - 2
    assert "Missing or changed files" in text


def test_plain_folder_gets_results_table_charts_and_skipped_note(tmp_path: Path) -> None:
    root = make_plain(tmp_path / "plain")
    (root / "notes.json").write_text('{"hello": 1}')
    (root / "nested" / "broken.json").write_text("{not json")
    text = build_report(root, title="My <b>report</b>")
    page = Page(text)
    assert "<h1>My &lt;b&gt;report&lt;/b&gt;</h1>" in text
    rows = [cells for _, table, cells in page.rows if table == "dataframe"]
    assert {cells[0] for cells in rows} == {"variant", "l1", "l1cgan"}
    charts = [i for i in page.images if i["section"] == "charts"]
    assert len(charts) == len(METRIC_KEYS)
    for img in charts:
        _not_blank(_decode(img["src"]))
    assert "Skipped files" in text
    assert "notes.json" in text and "nested/broken.json" in text


def test_paper_rows_only_for_a_paper_comparable_protocol(tmp_path: Path) -> None:
    root = make_plain(tmp_path / "plain")
    assert "Paper:" not in build_report(root)  # synthcity: not comparable
    paper = get_protocol("pix2pix-2017")
    result = _result(_metrics(1, 0), 0, "cityscapes")
    protocol = {**paper.as_dict(), "key": paper.key, "digest": paper.digest(), "split_used": "val"}
    result = dataclasses.replace(result, protocol=json.loads(json.dumps(protocol)), n_images=500)
    result.write(root / "paper" / "l1cgan.json")
    text = build_report(root)
    assert "Paper: Table 3: FCN-scores for different discriminator receptive fields" in text
    assert "Table 6" not in text  # photo2labels: another task
    rows = [cells[0] for _, table, cells in Page(text).rows if table == "paper"]
    assert "70×70" in rows and "L1+cGAN" in rows


def test_ablation_without_summary_computes_the_table_from_the_runs(tmp_path: Path) -> None:
    root = make_ablation(tmp_path / "ablation")
    (root / "summary.json").unlink()
    (root / "runs" / "v1-seed1" / "result.json").unlink()  # a run not finished yet
    text = build_report(root)
    assert "summary.json not found" in text
    assert "Planned runs without a result: v1-seed1" in text
    page = Page(text)
    assert len([i for i in page.images if i["section"] == "charts"]) == len(METRIC_KEYS)
    labels = {cells[0] for section, _, cells in page.rows if section == "tables"}
    assert {label for _, label in VARIANTS} | {"Ground truth"} <= labels


def test_write_report_refuses_an_existing_file(tmp_path: Path) -> None:
    root = make_plain(tmp_path / "plain")
    out = tmp_path / "r.html"
    out.write_text("keep")
    with pytest.raises(FileExistsError):
        write_report(root, out)
    assert out.read_text() == "keep"
    assert write_report(root, out, overwrite=True) == out
    assert out.read_text().startswith("<!DOCTYPE html>")


@pytest.mark.parametrize("case", ["missing", "empty", "no-results", "exists"])
def test_cli_refuses_bad_input_with_exit_2(case: str, tmp_path: Path) -> None:
    folder, out = tmp_path / "in", tmp_path / "report.html"
    if case != "missing":
        folder.mkdir()
    if case == "no-results":
        (folder / "other.json").write_text("[]")
    if case == "exists":
        make_plain(folder)
        out.write_text("old")
    res = CliRunner().invoke(main, ["report", str(folder), "--out", str(out)])
    assert res.exit_code == 2, res.output
    assert isinstance(res.exception, SystemExit)  # a message, no traceback
    assert "Error" in res.output
    assert out.exists() == (case == "exists")
    if case == "exists":
        assert out.read_text() == "old" and "--overwrite" in res.output
    if case == "no-results":
        assert "other.json" in res.output


def test_cli_writes_the_report(tmp_path: Path) -> None:
    root = make_plain(tmp_path / "plain")
    out = tmp_path / "out" / "report.html"
    res = CliRunner().invoke(main, ["report", str(root), "--out", str(out), "--title", "T"])
    assert res.exit_code == 0, res.output
    assert "<h1>T</h1>" in out.read_text(encoding="utf-8")
    res = CliRunner().invoke(main, ["report", str(root), "--out", str(out), "--overwrite"])
    assert res.exit_code == 0, res.output


def test_feature_metrics_get_columns_arrows_and_charts(tmp_path: Path) -> None:
    root = tmp_path / "features"
    features = {"fd_dinov2": 400.0, "cmmd": 2.5, "precision": 0.6, "coverage": 0.4}
    _result({**_metrics(0, 0), **features}, 0, "a").write(root / "a.json")
    worse = {"fd_dinov2": 500.0, "cmmd": 3.0, "precision": 0.5, "coverage": 0.3}
    _result({**_metrics(1, 0), **worse}, 0, "b").write(root / "b.json")
    text = build_report(root)
    page = Page(text)
    header = [cells for _, table, cells in page.rows if table == "dataframe"][0]
    for label in ("FD_DINOv2 ↓", "CMMD ↓", "Precision ↑", "Coverage ↑"):
        assert label in header, header
    charts = [i for i in page.images if i["section"] == "charts"]
    assert len(charts) == len(METRIC_KEYS) + len(features)


# ------------------------------------------------------------------------------------------
# The template, its escaping and the view models


class Contexts(HTMLParser):
    """Every text and attribute value of a page, with where it lies: (section id, the innermost
    caption / figcaption / summary / dd / th / skipped or problems note around it)."""

    MARKS = ("caption", "figcaption", "summary", "dd", "th", "h1")

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.section = "header"
        self.stack: list[str] = []
        self.found: list[tuple[str, str, str]] = []  # (section, mark, text)
        self.tags: set[str] = set()
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.add(tag)
        if tag == "section":
            self.section = a.get("id") or ""
        mark = tag if tag in self.MARKS else f"div.{a.get('class')}" if tag == "div" else None
        if tag not in ("img", "meta", "br"):
            self.stack.append(mark or (self.stack[-1] if self.stack else ""))
        for value in a.values():
            self.found.append((self.section, f"{tag}@", value or ""))

    def handle_endtag(self, tag: str) -> None:
        if self.stack:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.found.append((self.section, self.stack[-1] if self.stack else "", data))

    def where(self, needle: str) -> set[tuple[str, str]]:
        return {(s, m) for s, m, text in self.found if needle in text}


def test_a_script_tag_in_result_fields_is_escaped_in_every_section(tmp_path: Path) -> None:
    root = tmp_path / "evil"
    for i, name in enumerate(("a", "b")):
        result = _result(_metrics(i, 0), 0, name)
        prov = result.provenance | {"device": EVIL, "segmenter": {"name": EVIL, "sha256": "ef"}}
        dataclasses.replace(result, task=EVIL, provenance=prov).write(root / f"{name}.json")
    broken = _result(_metrics(0, 0), 0, "c").to_dict() | {"schema_version": EVIL}
    (root / "broken.json").write_text(json.dumps(broken))
    text = build_report(root)
    assert "<script" not in text.lower() and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    page = Contexts(text)
    assert "script" not in page.tags
    where = page.where(EVIL)
    assert ("tables", "caption") in where  # the results table's caption (segmenter, task)
    assert ("charts", "figcaption") in where  # the chart captions (task)
    assert ("provenance", "dd") in where  # device, segmenter, task
    assert ("header", "div.skipped") in where  # the skipped file's reason
    ablation_page = Contexts(build_report(make_ablation(tmp_path / "ablation")))
    assert "script" not in ablation_page.tags
    where = ablation_page.where(EVIL)  # a variant named and labelled like a script tag
    assert {"tables", "samples", "provenance"} <= {section for section, _ in where}
    assert {("samples", "th"), ("samples", "img@")} <= where  # column heads, alt texts
    assert ("provenance", "summary") in where


def test_a_malformed_summary_gives_a_note_not_a_crash(tmp_path: Path) -> None:
    root = make_ablation(tmp_path / "ablation")
    (root / "summary.json").write_text(json.dumps({"format": "p2pbench-ablation-summary"}))
    text = build_report(root)
    assert "summary.json is incomplete" in text
    assert not [cells for section, _, cells in Page(text).rows if section == "tables"]
    assert len([i for i in Page(text).images if i["section"] == "charts"]) == len(METRIC_KEYS)


def test_template_and_css_are_package_data_and_inlined(tmp_path: Path) -> None:
    templates = resources.files("p2pbench.reporting") / "templates"
    template = (templates / "report.html.j2").read_text(encoding="utf-8")
    css = (templates / "report.css").read_text(encoding="utf-8")
    assert "autoescape" not in template  # escaping is the environment's, not switched off here
    assert css.strip() and "{{" not in css
    text = build_report(make_plain(tmp_path / "plain"))
    style = text[text.index("<style>") + len("<style>") : text.index("</style>")]
    assert style.strip() == css.strip()  # inlined verbatim: quotes in font names not escaped


def test_seeds_interval_without_summary_is_the_student_t_interval(tmp_path: Path) -> None:
    from scipy import stats

    from p2pbench.reporting.report.ablation_view import ablation_points
    from p2pbench.reporting.report.folder import scan

    root = make_ablation(tmp_path / "ablation")
    (root / "summary.json").unlink()
    points = {p.label: p for p in ablation_points(scan(root), "class_iou")}
    for i, (_, label) in enumerate(VARIANTS):
        values = [_metrics(i, s)["class_iou"] for s in SEEDS]
        mean, sd = statistics.fmean(values), statistics.stdev(values)
        half = stats.t.ppf(0.975, len(values) - 1) * sd / len(values) ** 0.5
        p = points[label]
        assert p.value == pytest.approx(mean) and p.values == tuple(values)
        assert (p.low, p.high) == pytest.approx((mean - half, mean + half))


def test_a_runs_seed_is_the_training_seed_never_the_eval_seed() -> None:
    # one rule everywhere (Result.train_seed): the ablation block's seed, else the trainer's
    # run config; the evaluation's own seed (provenance.seed, 5 here) is not a training seed
    from p2pbench.reporting.report.shapes import run_seed, seed_text

    def read(**extra: Any) -> Result:
        return Result.from_dict(_result({}, 5, "a", **extra).to_dict())

    with_seed = read(ablation={"variant": "patch1", "seed": 2})
    without = read(ablation={"variant": "patch1"})
    assert (run_seed(with_seed), run_seed(without)) == (2.0, float("inf"))
    assert (seed_text(with_seed), seed_text(without)) == ("2", "?")
    configured = Result.from_dict(
        {**without.to_dict(), "source": {**without.source, "run": {"seed": 3}}}
    )
    assert run_seed(configured) == 3.0
