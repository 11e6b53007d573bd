"""p2pbench's own errors: one root for everything raised on purpose, and the exit statuses the
command line gives them. A builtin exception from inside a command is a bug: exit 3, with its
traceback and the request to report it; bad input is a `BadInputError`: exit 2, one line."""

from __future__ import annotations

import importlib
import inspect
import os
import pkgutil
import struct
import subprocess
import sys
import warnings
import zlib
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from PIL import Image

import fcn
import p2pbench
import reference_models
from p2pbench.base import atomic_write_text, sha256_file
from p2pbench.cli import main
from p2pbench.cli.errors import BUG_REPORT, EXIT_BAD_INPUT, EXIT_BUG, exit_code_for
from p2pbench.distributed import warn
from p2pbench.errors import (
    BadInputError,
    FileAccessError,
    P2PBenchError,
    P2PBenchWarning,
    UnavailableError,
)
from p2pbench.metrics.image_stats import read_image


def _defined_exceptions() -> list[type[BaseException]]:
    """Every exception class defined in p2pbench, fcn and reference_models (warnings aside)."""
    found = []
    for package in (p2pbench, fcn, reference_models):
        names = [package.__name__]
        names += [
            m.name
            for m in pkgutil.walk_packages(package.__path__, package.__name__ + ".")
            if not m.name.endswith("__main__")
        ]
        for name in names:
            module = importlib.import_module(name)
            for _, cls in inspect.getmembers(module, inspect.isclass):
                if (
                    cls.__module__ == name
                    and issubclass(cls, BaseException)
                    and not issubclass(cls, Warning)
                    and not issubclass(cls, click.ClickException)  # the CLI's own carrier
                ):
                    found.append(cls)
    return found


def test_every_error_class_derives_from_p2pbench_error() -> None:
    classes = _defined_exceptions()
    names = {f"{c.__module__}.{c.__qualname__}" for c in classes}
    assert {"p2pbench.reporting.check.CheckInputError", "fcn.caffemodel.CaffeModelError"} <= names
    strays = sorted(
        n
        for c, n in ((c, f"{c.__module__}.{c.__qualname__}") for c in classes)
        if not issubclass(c, P2PBenchError)
    )
    assert strays == [], f"error classes outside p2pbench.errors' hierarchy: {strays}"
    for cls in classes:  # each keeps a builtin base besides the root, for library users
        if cls.__module__ != "p2pbench.errors":
            builtin = [b for b in cls.__mro__ if b.__module__ == "builtins"]
            assert builtin[0] is not Exception, f"{cls.__name__} has no builtin second base"


def test_each_error_kind_has_its_status() -> None:
    for cls in _defined_exceptions():
        try:
            error = cls("x")
        except (TypeError, ValueError):  # it takes structured arguments; the class is what counts
            error = cls.__new__(cls)
        if issubclass(cls, UnavailableError):
            assert exit_code_for(error) == 1, cls
        elif issubclass(cls, BadInputError):
            assert exit_code_for(error) == EXIT_BAD_INPUT, cls


def test_a_stray_key_error_inside_a_command_is_a_bug(monkeypatch: pytest.MonkeyPatch) -> None:
    import p2pbench.evaluation.loop as loop

    def broken(*args: object, **kwargs: object) -> None:
        return {}["fcn"]  # the kind of slip a bug makes, deep inside the library

    monkeypatch.setattr(loop, "build_evaluators", broken)
    res = CliRunner().invoke(
        main, ["eval", "--real", "--data", "synthcity@v1", "--limit", "2", "--quiet"]
    )
    assert res.exit_code == EXIT_BUG, res.output
    assert "Traceback (most recent call last)" in res.stderr
    assert "in broken" in res.stderr and "KeyError: 'fcn'" in res.stderr
    assert res.stderr.rstrip().endswith(BUG_REPORT)
    assert not any(line.startswith("Error:") for line in res.output.splitlines())


def test_a_bug_exits_3_from_the_real_command_line(tmp_path: Path) -> None:
    """The whole path, in a process of its own: the traceback and the request on stderr."""
    script = (
        "import sys, p2pbench.cli.reporting as r\n"
        "def broken(*a, **k): raise TypeError('an internal slip')\n"
        "r.load_results = broken\n"
        "from p2pbench.cli import main\n"
        "main(sys.argv[1:], prog_name='p2pbench')\n"
    )
    result = tmp_path / "r.json"
    result.write_text("{}")
    env = {**os.environ, "PYTHONPATH": str(Path(p2pbench.__file__).parents[1])}
    proc = subprocess.run(
        [sys.executable, "-c", script, "table", str(result)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == EXIT_BUG, proc.stderr
    assert "Traceback" in proc.stderr and "TypeError: an internal slip" in proc.stderr
    assert BUG_REPORT in proc.stderr and proc.stdout == ""


def _bomb_png(path: Path, side: int = 40_000) -> None:
    """A 1×1 PNG whose header claims side×side pixels: Pillow refuses it as a bomb."""
    Image.new("RGB", (1, 1)).save(path)
    data = bytearray(path.read_bytes())
    ihdr = data[12:29]
    ihdr[4:12] = struct.pack(">II", 2 * side, side)
    data[12:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(ihdr)) & 0xFFFFFFFF)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("args", "pattern"),
    [
        (
            ["eval", "--real", "--data", "synthcity@v1", "--segmenter-weights", "{missing}"],
            "not found",
        ),
        (["eval", "--real", "--data", "{missing}"], "{missing}"),
        (["fid", "{junk}", "{junk}"], "not a readable .npz"),
        (["train", "--out", "{run}", "--resume", "--quiet"], "cannot read"),
    ],
)
def test_bad_paths_and_malformed_files_exit_2(
    args: list[str], pattern: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("P2PBENCH_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text("{not json")
    (tmp_path / "junk.npz").write_text("not numpy\n")
    names = {"missing": str(tmp_path / "none.pt"), "junk": str(tmp_path / "junk.npz")}
    names["run"] = str(run)
    res = CliRunner().invoke(main, [a.format(**names) for a in args])
    assert res.exit_code == EXIT_BAD_INPUT, res.output
    assert "Traceback" not in res.output
    errors = [line for line in res.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and pattern.format(**names) in errors[0], res.output


def test_a_failed_write_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = tmp_path / "r.json"
    res = CliRunner().invoke(main, ["table", str(result)])  # not there: exit 2, as before
    assert res.exit_code == EXIT_BAD_INPUT
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(FileAccessError, match=f"cannot write {blocker / 'out.txt'}") as info:
        atomic_write_text(blocker / "out.txt", "text")  # its folder is a file
    assert isinstance(info.value, OSError) and isinstance(info.value.__cause__, OSError)


def test_unreadable_inputs_become_bad_input(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.png"
    _bomb_png(bomb)
    with pytest.raises(FileAccessError, match="cannot read image .*bomb.png") as info:
        read_image(bomb)
    assert isinstance(info.value.__cause__, Image.DecompressionBombError)
    with pytest.raises(FileNotFoundError, match="none.bin not found"):  # the builtin still works
        sha256_file(tmp_path / "none.bin")


def test_library_warnings_are_warnings_on_rank_0_only(monkeypatch: pytest.MonkeyPatch) -> None:
    import p2pbench.distributed as distributed

    with pytest.warns(P2PBenchWarning, match="a note for the user"):
        warn("a note for the user")
    monkeypatch.setattr(distributed, "rank_and_world", lambda: (1, 2))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warn("said by rank 1")
    assert caught == []


def test_the_cli_shows_a_warning_as_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import p2pbench.cli.data as cli_data

    real = cli_data.write_synthcity

    def warning_writer(*args: object, **kwargs: object) -> object:
        warn("the scenes are small")
        warnings.warn("not ours", UserWarning, stacklevel=1)
        return real(*args, **kwargs)

    monkeypatch.setattr(cli_data, "write_synthcity", warning_writer)
    out = tmp_path / "synth"
    before = warnings.showwarning
    with pytest.warns(UserWarning, match="not ours"):  # handed on to the handler before
        res = CliRunner().invoke(
            main,
            ["data", "synth", "--out", str(out), "--size", "32", "--n-train", "1", "--n-val", "1"],
        )
    assert res.exit_code == 0, res.output
    assert "p2pbench: warning: the scenes are small\n" in res.stderr
    assert "P2PBenchWarning" not in res.stderr  # no file, line or class: the message
    assert "not ours" not in res.stderr  # another package's warning is not dressed as ours
    assert warnings.showwarning is before  # the CLI's formatter is gone after the command


@pytest.mark.parametrize("content", ["a stray file", "a damaged plan"])
def test_an_unusable_ablation_folder_exits_2(content: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    if content == "a stray file":
        (out / "notes.txt").write_text("x")
    else:
        (out / "plan.json").write_text("{not json")
    res = CliRunner().invoke(main, ["ablate", "loss", "--out", str(out), "--steps", "1"])
    assert res.exit_code == EXIT_BAD_INPUT, res.output
