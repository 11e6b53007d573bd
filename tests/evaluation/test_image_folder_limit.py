"""`eval --images DIR --limit N`: the split's other images in DIR are not "unexpected", and when
images are missing the message names the remedy that fits what was passed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from p2pbench.cli import main
from p2pbench.cli.errors import EXIT_BAD_INPUT, EXIT_OK

N_VAL = 100  # synthcity@v1's val split, 64×64


def _folder(root: Path, ids: range, *extra: str) -> Path:
    root.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"{i:06d}.png" for i in ids] + list(extra):
        Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(root / name)
    return root


def _eval(folder: Path, *args: str) -> object:
    command = ["eval", "--images", str(folder), "--data", "synthcity@v1", "--quiet", *args]
    return CliRunner().invoke(main, command)


def test_a_full_folder_with_a_limit_scores_the_first_n(tmp_path: Path) -> None:
    folder = _folder(tmp_path / "full", range(N_VAL))
    out = tmp_path / "r.json"
    res = _eval(folder, "--limit", "8", "--metrics", "paired", "--out", str(out))
    assert res.exit_code == EXIT_OK, res.output
    assert '"n_images": 8' in out.read_text() and '"limit": 8' in out.read_text()


def test_missing_images_under_a_limit_name_the_remedy_not_the_limit(tmp_path: Path) -> None:
    folder = _folder(tmp_path / "late", range(10, N_VAL))  # the first 10 are missing
    res = _eval(folder, "--limit", "8")
    assert res.exit_code == EXIT_BAD_INPUT
    assert "missing 8" in res.output and "unexpected 0" in res.output
    assert "pass --limit N" not in res.output  # the limit was given: not the remedy
    assert "p2pbench generate --limit 8" in res.output and "--allow-missing" in res.output


@pytest.mark.parametrize("limit", [None, "30"])
def test_files_of_no_sample_are_unexpected_with_or_without_a_limit(
    limit: str | None, tmp_path: Path
) -> None:
    folder = _folder(tmp_path / "odd", range(N_VAL), "notes.png")
    res = _eval(folder, *(["--limit", limit] if limit else []))
    assert res.exit_code == EXIT_BAD_INPUT
    assert "unexpected 1: notes.png" in res.output and "--naming" in res.output
