"""The bottom layer: the cache home, and the one reader of p2pbench's versioned `.pt` files."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from p2pbench.base import atomic_write_text, p2pbench_home, read_versioned


class FormatError(ValueError):
    pass


class Payload:
    """A class torch.save pickles by reference: loading it would run code."""


def _read(path: Path) -> dict:
    return read_versioned(path, "demo-format", 2, FormatError, remedy="rewrite it")


def test_home_follows_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("P2PBENCH_HOME", str(tmp_path / "a"))
    assert p2pbench_home() == tmp_path / "a"
    monkeypatch.delenv("P2PBENCH_HOME")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert p2pbench_home() == tmp_path / "xdg" / "p2pbench"


def test_a_versioned_file_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "f.pt"
    torch.save({"format": "demo-format", "version": 2, "x": torch.arange(3)}, path)
    assert torch.equal(_read(path)["x"], torch.arange(3))


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"format": "other", "version": 2}, "expected a 'demo-format' file, found 'other'"),
        ({"format": "demo-format", "version": 1}, "version 1; this p2pbench reads version 2"),
        ([1, 2, 3], "found 'list'"),
    ],
)
def test_wrong_format_or_version_says_what_to_do(
    tmp_path: Path, payload: object, message: str
) -> None:
    path = tmp_path / "f.pt"
    torch.save(payload, path)
    with pytest.raises(FormatError, match=message) as e:
        _read(path)
    assert "rewrite it" in str(e.value)


def test_pickled_objects_are_refused_not_run(tmp_path: Path) -> None:
    path = tmp_path / "f.pt"
    torch.save({"format": "demo-format", "version": 2, "o": Payload()}, path)
    with pytest.raises(FormatError, match="other than tensors"):
        _read(path)


def test_missing_and_garbage_files(tmp_path: Path) -> None:
    with pytest.raises(FormatError, match="not found"):
        _read(tmp_path / "absent.pt")
    atomic_write_text(tmp_path / "text.pt", "not a torch file")
    with pytest.raises(FormatError, match="cannot read"):
        _read(tmp_path / "text.pt")
