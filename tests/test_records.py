"""The typed records read the files p2pbench 0.1.0 wrote, and render the same numbers.

`fixtures/ablation-written-by-0.1.0.tar.gz` is an ablation folder written by main at commit
ecd1598 (before the records existed): `receptive-field` on synthcity@v1, 2 steps, ngf = ndf = 4,
seeds 0 and 1, 2 fixed samples (checkpoints and training sample grids left out).
"""

from __future__ import annotations

import json
import math
import tarfile
from pathlib import Path
from typing import Any

import pytest

from p2pbench.records import (
    AblationManifest,
    AblationRun,
    AblationSummary,
    RecordError,
    TrainingLogLine,
    read_manifest,
    read_summary,
    read_training_log,
)
from p2pbench.reporting.ablation import render_summary, summarize
from p2pbench.results import Result, ResultError, read_result

FIXTURE = Path(__file__).parent / "fixtures" / "ablation-written-by-0.1.0.tar.gz"


@pytest.fixture(scope="module")
def old_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("old-ablation")
    with tarfile.open(FIXTURE) as tar:
        tar.extractall(root, filter="data")
    return root


def _json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _close(a: Any, b: Any, path: str = "") -> list[str]:
    """Where two JSON values differ (numbers compared to 1e-12 relative)."""
    if isinstance(a, dict) and isinstance(b, dict):
        if list(a) != list(b):
            return [f"{path}: keys {list(a)} != {list(b)}"]
        return [d for k in a for d in _close(a[k], b[k], f"{path}.{k}")]
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: length {len(a)} != {len(b)}"]
        return [
            d
            for i, (x, y) in enumerate(zip(a, b, strict=True))
            for d in _close(x, y, f"{path}[{i}]")
        ]
    if isinstance(a, float) or isinstance(b, float):
        ok = isinstance(a, (int, float)) and isinstance(b, (int, float))
        return [] if ok and math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-15) else [f"{path}"]
    return [] if a == b and type(a) is type(b) else [f"{path}: {a!r} != {b!r}"]


def test_old_files_parse_and_write_back_unchanged(old_folder: Path) -> None:
    raw_plan = _json(old_folder / "plan.json")
    manifest = read_manifest(old_folder / "plan.json")
    assert manifest.to_dict() == raw_plan
    assert [v.name for v in manifest.variants] == ["patch1", "patch16", "patch70"]
    assert manifest.label_of("patch70") == "70×70" and manifest.label_of("ground-truth")
    assert read_summary(old_folder / "summary.json").to_dict() == _json(old_folder / "summary.json")
    for run in manifest.runs:
        path = old_folder / "runs" / run.run_id / "result.json"
        result = read_result(path)
        assert result.to_dict() == _json(path)  # every key, in the file's order
        assert result.ablation == AblationRun.from_dict(_json(path)["ablation"])
        assert (result.train_seed, result.run_id) == (run.seed, run.run_id)
        assert result.ablation is not None and result.ablation.label == result.variant
        assert [s.sample_id for s in result.samples or ()] == list(manifest.sample_ids)
        lines, bad = read_training_log(path.parent / "log.jsonl")
        assert bad == 0 and lines and lines[-1].step == run.config["max_steps"]
        raw = [json.loads(t) for t in (path.parent / "log.jsonl").read_text().splitlines()]
        assert [line.to_dict() for line in lines] == raw
    truth = read_result(old_folder / "ground-truth" / "result.json")
    assert truth.ablation is not None and truth.ablation.is_ground_truth
    assert truth.train_seed is None and truth.variant == "Ground truth"
    assert truth.to_dict() == _json(old_folder / "ground-truth" / "result.json")


def test_old_folder_summarizes_and_renders_the_same_numbers(old_folder: Path) -> None:
    manifest = read_manifest(old_folder / "plan.json")
    results: dict[str, list[Result]] = {}
    for run in manifest.runs:
        results.setdefault(run.variant, []).append(
            read_result(old_folder / "runs" / run.run_id / "result.json")
        )
    truth = read_result(old_folder / "ground-truth" / "result.json")
    summary = summarize(manifest, results, truth)
    assert _close(summary.to_dict(), _json(old_folder / "summary.json")) == []
    assert render_summary(summary, "markdown") == (old_folder / "table.md").read_text()
    # the old summary.json, as read, renders the same table as the recomputed one
    old = _json(old_folder / "summary.json")
    for fmt in ("markdown", "latex", "csv", "html"):
        assert render_summary(old, fmt) == render_summary(summary, fmt)


def test_records_round_trip_and_refuse_malformed_input(old_folder: Path) -> None:
    manifest = read_manifest(old_folder / "plan.json")
    assert AblationManifest.from_dict(manifest.to_dict()) == manifest
    summary = read_summary(old_folder / "summary.json")
    assert AblationSummary.from_dict(summary.to_dict()) == summary
    line = TrainingLogLine(7, 0, {"g_l1": 0.5}, {"s_per_step": 0.1})
    assert TrainingLogLine.from_dict(json.loads(line.to_json())) == line

    bad_plan = {**manifest.to_dict(), "reference_variant": "patch9"}
    with pytest.raises(RecordError, match="reference_variant 'patch9'"):
        AblationManifest.from_dict(bad_plan)
    with pytest.raises(RecordError, match="version 2"):
        AblationManifest.from_dict({**manifest.to_dict(), "version": 2})
    with pytest.raises(RecordError, match="not an ablation summary"):
        AblationSummary.from_dict({**summary.to_dict(), "format": "p2pbench-ablation"})
    result = _json(old_folder / "runs" / "patch1-seed0" / "result.json")
    with pytest.raises(ResultError, match="ablation: variant must be a string"):
        Result.from_dict({**result, "ablation": {"plan": "x", "variant": 3}})
    with pytest.raises(ResultError, match="seed"):
        Result.from_dict({**result, "ablation": {**result["ablation"], "seed": "0"}})
    with pytest.raises(ResultError, match=r"samples\[0\]"):
        Result.from_dict({**result, "samples": [{"output": {}}]})


def test_a_damaged_log_line_is_counted_not_fatal(tmp_path: Path) -> None:
    log = tmp_path / "log.jsonl"
    log.write_text('{"step": 1, "epoch": 0, "g": 1.0}\nnot json\n\n[1]\n{"step": 2, "g": 0.5}\n')
    lines, bad = read_training_log(log)
    assert [(x.step, x.losses) for x in lines] == [(1, {"g": 1.0}), (2, {"g": 0.5})]
    assert bad == 2


def test_comparable_key_and_seed_rule(old_folder: Path) -> None:
    a = read_result(old_folder / "runs" / "patch1-seed1" / "result.json")
    b = read_result(old_folder / "ground-truth" / "result.json")
    assert a.comparable_key == b.comparable_key
    assert "synthcity@v1" in a.comparable_key.describe()
    # without its ablation block, a run's seed is the trainer config's, else a top-level seed
    data = {k: v for k, v in a.to_dict().items() if k != "ablation"}
    assert "run" not in data["source"] and Result.from_dict(data).train_seed == 1
    assert Result.from_dict({**data, "seed": None}).train_seed is None
    with_config = {**data, "seed": None, "source": {**data["source"], "run": {"seed": 5}}}
    assert Result.from_dict(with_config).train_seed == 5


def test_the_report_of_an_old_folder_shows_its_table_and_every_file(old_folder: Path) -> None:
    from p2pbench.reporting.html import build_page, build_report

    page = build_page(old_folder)
    assert page.problems == ()
    # the fixture has no checkpoints, so the runs' config.json files are listed, nothing else
    assert {Path(p).name for p, _ in page.skipped} == {"config.json"}
    assert page.grid is not None and len(page.grid.rows) == 2
    text = build_report(old_folder)
    summary = _json(old_folder / "summary.json")
    for row in summary["rows"]:
        mean = row["metrics"]["class_iou"]["mean"]
        assert f"{mean:.3f} ± {row['metrics']['class_iou']['std']:.3f}" in text
    assert "summary.json not found" not in text and "incomplete" not in text
