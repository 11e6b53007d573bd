"""The command line's contract: exit codes (0 ok, 1 negative verdict, 2 bad input or usage),
one-line errors without tracebacks for expected failures, and the recorded command line."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from p2pbench.cli import main
from p2pbench.cli.errors import EXIT_BAD_INPUT, EXIT_BUG, EXIT_FAILED, exit_code_for
from p2pbench.errors import BadInputError, InvalidValueError, PathNotFoundError
from p2pbench.metrics.availability import MetricUnavailableError
from p2pbench.results import ResultError, read_result
from reference_models import CheckpointError, UnknownNameError


def test_exceptions_map_to_the_documented_codes() -> None:
    assert exit_code_for(MetricUnavailableError("fid: no weights")) == EXIT_FAILED
    for error in (
        BadInputError("x"),
        InvalidValueError("x"),
        PathNotFoundError("x"),
        UnknownNameError("x"),
        CheckpointError("x"),
        ResultError("x"),
    ):
        assert exit_code_for(error) == EXIT_BAD_INPUT, error
    # builtins no longer mean "bad input": p2pbench raises its own errors for that
    for bug in (ValueError("x"), KeyError("x"), TypeError("x"), FileNotFoundError("x")):
        assert exit_code_for(bug) is None, bug
    assert exit_code_for(RuntimeError("a bug")) is None
    assert exit_code_for(AssertionError()) is None


def test_help_states_the_exit_codes() -> None:
    res = CliRunner().invoke(main, ["--help"])
    assert res.exit_code == 0
    assert "0 success" in res.output and "2 bad input or usage" in res.output


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["eval", "--real", "--data", "synthcity@v1", "--limit", "0", "--quiet"], "limit"),
        (["eval", "--real", "--data", "synthcity@v1", "--batch-size", "0", "--quiet"], "batch"),
        (["eval", "--real", "--data", "synthcity@v1", "--metrics", "fcn,nope"], "nope"),
        (["eval", "--real", "--data", "nowhere"], "nowhere"),
        (["eval", "--real", "--protocol", "nope"], "synthcity"),
        (["train", "--gen", "unet999", "--out", "x"], "unet999"),
        (["table", "missing.json"], "not found"),
    ],
)
def test_bad_input_exits_2_with_a_message(
    args: list[str], expected: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(main, args)
    assert res.exit_code == EXIT_BAD_INPUT, res.output
    assert expected in res.output
    assert isinstance(res.exception, SystemExit)  # a message and a status, no traceback


def test_a_required_metric_that_is_unavailable_exits_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("P2PBENCH_INCEPTION_WEIGHTS", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "no-weights"))
    res = CliRunner().invoke(
        main,
        [
            "eval",
            "--real",
            "--data",
            "synthcity@v1",
            "--limit",
            "2",
            "--metrics",
            "inception",
            "--require",
            "fid",
            "--quiet",
        ],
    )
    assert res.exit_code == EXIT_FAILED, res.output
    assert "fid" in res.output and "unavailable" in res.output


def test_a_bug_keeps_its_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    import p2pbench.cli.evaluate as cli_evaluate

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("internal error")

    monkeypatch.setattr(cli_evaluate, "evaluate", broken)
    res = CliRunner().invoke(main, ["eval", "--real", "--data", "synthcity@v1"])
    assert res.exit_code == EXIT_BUG  # not turned into a user error, nor into a "regression"
    assert "Traceback" in res.output and "RuntimeError: internal error" in res.output
    assert "this is a bug" in res.output


def test_the_command_line_is_recorded_as_typed(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    args = [
        "eval",
        "--real",
        "--data",
        "synthcity@v1",
        "--limit",
        "2",
        "--metrics",
        "fcn",
        "--quiet",
        "--out",
        str(out),
    ]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    assert read_result(out).provenance["command"] == ["p2pbench", *args]


def test_ctrl_c_exits_130_not_1(monkeypatch: pytest.MonkeyPatch) -> None:
    import p2pbench.cli.evaluate as cli_evaluate

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_evaluate, "evaluate", interrupted)
    res = CliRunner().invoke(main, ["eval", "--real", "--data", "synthcity@v1"])
    assert res.exit_code == 130 and "interrupted" in res.output
