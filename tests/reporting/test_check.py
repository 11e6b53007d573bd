"""`p2pbench check`: every exit path, both directions of "better", JUnit, baseline updates."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

import p2pbench.base
from p2pbench.cli import main
from p2pbench.reporting.check import (
    CheckInputError,
    Tolerances,
    compare,
    render_junit,
    render_markdown,
)
from p2pbench.results import Result, read_result


def _check(*args: object) -> tuple[int, str]:
    res = CliRunner().invoke(main, ["check", *map(str, args)])
    return res.exit_code, res.output


def _junit(path: Path) -> ET.Element:
    suite = ET.parse(path).getroot().find("testsuite")
    assert suite is not None
    return suite


def test_identical_result_passes(result_files: dict, tmp_path: Path) -> None:
    junit = tmp_path / "junit.xml"
    code, out = _check(result_files["seed0"], "--baseline", result_files["seed0"], "--junit", junit)
    assert code == 0, out
    assert "| metric | baseline | result | delta | tolerance | status |" in out
    assert out.count("| ok |") == 3 and "check: pass" in out
    suite = _junit(junit)
    assert [c.get("name") for c in suite.iter("testcase")] == [
        "per_pixel_acc",
        "per_class_acc",
        "class_iou",
    ]
    assert suite.get("failures") == "0" and not list(suite.iter("failure"))


def test_worse_accuracy_is_a_regression_better_is_an_improvement(
    result_files: dict, tmp_path: Path
) -> None:
    worse, better = result_files["seed1"], result_files["seed0"]  # seed 1 scores lower
    assert read_result(worse).metrics["class_iou"] < read_result(better).metrics["class_iou"]
    junit = tmp_path / "junit.xml"
    code, out = _check(worse, "--baseline", better, "--junit", junit)
    assert code == 1 and out.count("**REGRESSED**") == 3
    suite = _junit(junit)
    failures = list(suite.iter("failure"))
    assert suite.get("tests") == "3" and suite.get("failures") == "3" and len(failures) == 3
    assert "higher is better" in failures[0].get("message")
    code, out = _check(better, "--baseline", worse)
    assert code == 0 and out.count("| improved |") == 3


def test_tolerances_absorb_a_small_worsening(result_files: dict) -> None:
    worse, better = read_result(result_files["seed1"]), read_result(result_files["seed0"])
    gaps = {
        m: better.metrics[m] - worse.metrics[m]
        for m in ("per_pixel_acc", "per_class_acc", "class_iou")
    }
    exact = compare(worse, better, Tolerances(gaps))  # a change equal to the tolerance passes
    assert [c.status for c in exact.checks] == ["ok"] * 3 and not exact.regressed
    tighter = compare(worse, better, Tolerances({m: g * 0.99 for m, g in gaps.items()}))
    assert [c.status for c in tighter.checks] == ["regressed"] * 3
    rel = max(g / better.metrics[m] for m, g in gaps.items())
    code, out = _check(
        result_files["seed1"], "--baseline", result_files["seed0"], "--rel-tol", rel * 1.01
    )
    assert code == 0 and "× baseline" in out
    code, _ = _check(
        result_files["seed1"],
        "--baseline",
        result_files["seed0"],
        *(a for m, g in gaps.items() for a in ("--tol", f"{m}={g * 1.01}")),
    )
    assert code == 0


@pytest.mark.parametrize(
    ("fid", "code", "status"), [(11.0, 1, "REGRESSED"), (9.0, 0, "improved"), (10.0, 0, "ok")]
)
def test_lower_is_better_for_fid(
    result_files: dict, modified, fid: float, code: int, status: str
) -> None:
    base = modified(result_files["seed0"], "base.json", lambda d: d["metrics"].update(fid=10.0))
    new = modified(result_files["seed0"], "new.json", lambda d: d["metrics"].update(fid=fid))
    got, out = _check(new, "--baseline", base)
    assert got == code
    assert any(line.startswith("| fid ↓") and status in line for line in out.splitlines())


def test_a_metric_new_to_the_result_is_reported_not_compared(result_files: dict) -> None:
    base = read_result(result_files["seed0"])
    data = read_result(result_files["seed0"]).to_dict()
    new = Result.from_dict({**data, "metrics": {**data["metrics"], "psnr": 20.0}})
    report = compare(new, base)
    assert [(c.metric, c.status) for c in report.checks][-1] == ("psnr", "new")
    assert not report.regressed and "| psnr ↑ | – | 20.0000 |" in render_markdown(report)
    suite = ET.fromstring(render_junit(report)).find("testsuite")
    assert suite.get("skipped") == "1" and suite.get("failures") == "0"


def _drop_class_iou(d: dict) -> None:
    del d["metrics"]["class_iou"]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (_drop_class_iou, "class_iou"),
        (lambda d: d["protocol"].update(digest="f" * 64), "protocol differs"),
        (lambda d: d.update(n_images=3), "n_images differs"),
        (lambda d: d.update(task="photo2labels"), "task differs"),
        (lambda d: d.pop("metrics"), "missing keys"),
        (lambda d: d.update(schema_version=99), "schema version"),
    ],
)
def test_unusable_input_exits_2(
    result_files: dict, modified, tmp_path: Path, edit, message: str
) -> None:
    bad = modified(result_files["seed0"], "bad.json", edit)
    junit = tmp_path / "junit.xml"
    code, out = _check(bad, "--baseline", result_files["seed0"], "--junit", junit)
    assert code == 2 and message in out
    error = _junit(junit).find("testcase/error")
    assert error is not None and message in error.get("message")


def test_unreadable_files_and_bad_options_exit_2(result_files: dict, tmp_path: Path) -> None:
    good = result_files["seed0"]
    truncated = tmp_path / "truncated.json"
    truncated.write_text(good.read_text(encoding="utf-8")[:200], encoding="utf-8")
    cases = [
        ((truncated, "--baseline", good), "not valid JSON"),
        ((good, "--baseline", truncated), "not valid JSON"),
        ((tmp_path / "none.json", "--baseline", good), "not found"),
        ((good, "--baseline", tmp_path / "none.json"), "--update-baseline"),
        ((good, "--baseline", tmp_path), "not valid JSON|directory"),
        ((good, "--baseline", good, "--tol", "fdi=1"), "unknown metric"),
        ((good, "--baseline", good, "--tol", "fid"), "METRIC=ABS"),
        ((good, "--baseline", good, "--rel-tol", "-0.1"), "≥ 0"),
    ]
    for args, message in cases:
        code, out = _check(*args)
        assert code == 2, (args, out)
        assert any(m in out for m in message.split("|")), (args, out)
    with pytest.raises(CheckInputError, match="unknown metric"):
        Tolerances({"iou": 0.1})


def test_update_baseline_replaces_the_whole_file_atomically(
    result_files: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    baseline = tmp_path / "baseline.json"
    code, _ = _check(result_files["seed0"], "--baseline", baseline, "--update-baseline")
    assert code == 0 and baseline.read_bytes() == result_files["seed0"].read_bytes()  # created
    code, out = _check(result_files["seed1"], "--baseline", baseline, "--update-baseline")
    assert code == 0 and "**REGRESSED**" in out  # the comparison is shown, then accepted
    assert baseline.read_bytes() == result_files["seed1"].read_bytes()

    def crash(src: object, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(p2pbench.base.os, "replace", crash)
    res = CliRunner().invoke(
        main, ["check", str(result_files["real"]), "--baseline", str(baseline), "--update-baseline"]
    )
    # the write's OSError becomes a FileAccessError naming the file: exit 2 (p2pbench.cli.errors)
    assert res.exit_code == 2, res.output
    assert f"Error: cannot write {baseline}: disk full" in res.output, res.output
    assert baseline.read_bytes() == result_files["seed1"].read_bytes()  # old file intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["baseline.json"]  # no temporary left
    assert json.loads(baseline.read_text(encoding="utf-8"))["provenance"]["seed"] == 1


def test_metrics_unavailable_in_the_baseline_are_not_compared(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from p2pbench.evaluation import RealImages, RunSpec, ScoreSpec, evaluate
    from p2pbench.reporting.check import compare

    # FID without Inception weights is recorded as unavailable, with its reason
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("P2PBENCH_INCEPTION_WEIGHTS", raising=False)
    result = evaluate(
        RealImages(),
        protocol="synthcity@v1",
        score=ScoreSpec(limit=2, metrics=("fcn", "inception")),
        run=RunSpec(progress=False),
    )
    assert result.metrics["fid"]["available"] is False
    report = compare(result, result)
    assert "fid" not in [c.metric for c in report.checks] and not report.regressed
    data = result.to_dict()
    with_fid = Result.from_dict({**data, "metrics": {**data["metrics"], "fid": 12.5}})
    assert [c.status for c in compare(with_fid, result).checks if c.metric == "fid"] == ["new"]
    with pytest.raises(CheckInputError, match="fid"):
        compare(result, with_fid)


@pytest.mark.parametrize(
    ("metric", "base", "new", "code"),
    [
        ("fd_dinov2", 100.0, 110.0, 1),
        ("fd_dinov2", 100.0, 90.0, 0),
        ("cmmd", 1.0, 1.2, 1),
        ("precision", 0.7, 0.6, 1),
        ("coverage", 0.5, 0.6, 0),
    ],
)
def test_the_feature_metrics_are_checked_in_their_direction(
    result_files: dict, modified, metric: str, base: float, new: float, code: int
) -> None:
    b = modified(result_files["seed0"], "base.json", lambda d: d["metrics"].update({metric: base}))
    n = modified(result_files["seed0"], "new.json", lambda d: d["metrics"].update({metric: new}))
    got, out = _check(n, "--baseline", b)
    assert got == code, out
    arrow = "↓" if metric in ("fd_dinov2", "cmmd") else "↑"
    status = "REGRESSED" if code else "improved"
    assert any(
        line.startswith(f"| {metric} {arrow}") and status in line for line in out.splitlines()
    )


def _with_method(path: Path, name: str, modified, group: str, **fields: object):  # noqa: ANN202
    def edit(d: dict) -> None:
        d["metrics"].update({"cmmd": 1.0, "fid": 10.0})
        if group == "inception":
            d["provenance"]["inception"] = {"available": True, "mode": "tf", **fields}
        else:
            section = {"encoder": "clip-vitl14-336", "mode": "center-crop", **fields}
            d["provenance"]["features"] = {group: section}

    return modified(path, name, edit)


@pytest.mark.parametrize(
    ("group", "base", "new", "message"),
    [
        ("cmmd", {"precision": "float64"}, {"precision": "float32"}, "'float64' → 'float32'"),
        ("cmmd", {}, {"precision": "float32"}, "'float64' → 'float32'"),  # 0.2.0: float64
        ("cmmd", {"mode": "center-crop"}, {"mode": "squash"}, "mode 'center-crop' → 'squash'"),
        ("inception", {"mode": "tf"}, {"mode": "clean"}, "fid computed another way"),
    ],
)
def test_a_metric_computed_another_way_is_not_compared(
    result_files: dict, modified, group: str, base: dict, new: dict, message: str
) -> None:
    b = _with_method(result_files["seed0"], "base.json", modified, group, **base)
    n = _with_method(result_files["seed0"], "new.json", modified, group, **new)
    got, out = _check(n, "--baseline", b)
    assert got == 2 and message in out and "not comparable" in out, out
    same = _with_method(result_files["seed0"], "same.json", modified, group, **base)
    assert _check(same, "--baseline", b)[0] == 0
