"""`p2pbench report`: one self-contained HTML page of a results folder (plain or ablation)."""

from __future__ import annotations

import base64
import dataclasses
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from reference.report_folders import (
    METRIC_KEYS,
    SAMPLES,
    VARIANTS,
    Page,
    decode,
    fake_metrics,
    make_ablation,
    make_plain,
    make_result,
    not_blank,
    write_png,
)

from p2pbench.cli import main
from p2pbench.protocols import get_protocol
from p2pbench.reporting.html import build_report, write_report


@pytest.fixture(scope="module")
def ablation(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    root = make_ablation(tmp_path_factory.mktemp("report") / "ablation")
    return root, build_report(root)


# ------------------------------------------------------------------------------------------
# Tests


def test_every_chart_is_a_valid_non_blank_png(ablation: tuple[Path, str]) -> None:
    page = Page(ablation[1])
    metric_charts = [i for i in page.images if i["section"] == "charts"]
    curve_charts = [i for i in page.images if i["section"] == "curves"]
    assert len(metric_charts) == len(METRIC_KEYS)
    assert len(curve_charts) == 2  # d_fake, g_l1: one chart per loss
    for img in metric_charts + curve_charts:
        im = decode(img["src"])
        assert im.size == (500, 300)
        not_blank(im)


def test_image_grid_has_input_each_variant_and_target_per_sample(
    ablation: tuple[Path, str],
) -> None:
    page = Page(ablation[1])
    grid = [i for i in page.images if i["table"] == "grid"]
    assert len(grid) == len(SAMPLES) * (2 + len(VARIANTS))
    for img in grid:
        assert img["alt"]
        not_blank(decode(img["src"]))
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
    write_png(changed, 999)  # different pixels: the recorded sha256 no longer matches
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
        not_blank(decode(img["src"]))
    assert "Skipped files" in text
    assert "notes.json" in text and "nested/broken.json" in text


def test_paper_rows_only_for_a_paper_comparable_protocol(tmp_path: Path) -> None:
    root = make_plain(tmp_path / "plain")
    assert "Paper:" not in build_report(root)  # synthcity: not comparable
    paper = get_protocol("pix2pix-2017")
    result = make_result(fake_metrics(1, 0), 0, "cityscapes")
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
    make_result({**fake_metrics(0, 0), **features}, 0, "a").write(root / "a.json")
    worse = {"fd_dinov2": 500.0, "cmmd": 3.0, "precision": 0.5, "coverage": 0.3}
    make_result({**fake_metrics(1, 0), **worse}, 0, "b").write(root / "b.json")
    text = build_report(root)
    page = Page(text)
    header = [cells for _, table, cells in page.rows if table == "dataframe"][0]
    for label in ("FD_DINOv2 ↓", "CMMD ↓", "Precision ↑", "Coverage ↑"):
        assert label in header, header
    charts = [i for i in page.images if i["section"] == "charts"]
    assert len(charts) == len(METRIC_KEYS) + len(features)
