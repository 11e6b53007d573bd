"""The pix2pix aligned folder format: sides, direction, order, labels and errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from p2pbench.data import AlignedDataset

RED, BLUE = (255, 0, 0), (0, 0, 255)


def _pair(path: Path, h: int = 16, left=RED, right=BLUE) -> None:
    a = np.zeros((h, 2 * h, 3), dtype=np.uint8)
    a[:, :h], a[:, h:] = left, right
    Image.fromarray(a).save(path)


def _color(x: torch.Tensor) -> tuple[float, ...]:
    assert (x == x[:, :1, :1]).all(), "expected a solid image"
    return tuple(x[:, 0, 0].tolist())


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "train").mkdir()
    for stem in ("b", "a", "c"):
        _pair(tmp_path / "train" / f"{stem}.png")
    return tmp_path


def test_directions(root: Path) -> None:
    ab = AlignedDataset(root, "train", "AtoB")[0]
    assert _color(ab.input) == (1.0, -1.0, -1.0) and _color(ab.target) == (-1.0, -1.0, 1.0)
    ba = AlignedDataset(root, "train", "BtoA")[0]
    assert _color(ba.input) == (-1.0, -1.0, 1.0) and _color(ba.target) == (1.0, -1.0, -1.0)
    assert ab.input.shape == (3, 16, 16) and ab.label is None


def test_sorted_ids_and_resize(root: Path) -> None:
    (root / "train" / "notes.txt").write_text("ignored: not an image")
    ds = AlignedDataset(root, "train", size=8)
    assert [ds[i].sample_id for i in range(len(ds))] == ["a", "b", "c"]
    assert ds[0].input.shape == (3, 8, 8)
    assert len(AlignedDataset(root, "train", n=2)) == 2


def test_labels_are_loaded_at_the_half_grid(root: Path) -> None:
    (root / "train_labels").mkdir()
    ids = np.arange(16 * 16, dtype=np.uint8).reshape(16, 16) % 19
    for stem in ("a", "b", "c"):
        Image.fromarray(ids).save(root / "train_labels" / f"{stem}.png")
    s = AlignedDataset(root, "train")[0]
    assert s.label.dtype == torch.int64
    np.testing.assert_array_equal(s.label.numpy(), ids)
    small = AlignedDataset(root, "train", size=8)[0].label
    # nearest, pixel-centre aligned: output pixel i samples input (i + 0.5) * 2 → 2i + 1
    np.testing.assert_array_equal(small.numpy(), ids[1::2, 1::2])


def test_errors_name_the_problem(root: Path, tmp_path_factory) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        AlignedDataset(root, "val")
    empty = tmp_path_factory.mktemp("empty")
    (empty / "train").mkdir()
    with pytest.raises(FileNotFoundError, match="no .png/.jpg images"):
        AlignedDataset(empty, "train")
    Image.fromarray(np.zeros((4, 9, 3), np.uint8)).save(root / "train" / "odd.png")
    with pytest.raises(ValueError, match="odd.png is 9×4 .*not an aligned pair"):
        AlignedDataset(root, "train")  # checked up front, from the headers
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(root / "train" / "odd.png")
    with pytest.raises(ValueError, match="odd.png is 4×4 .*not an aligned pair"):
        AlignedDataset(root, "train")  # a photo, not a pair: never split and stretched
    Image.fromarray(np.zeros((4, 8), np.uint16)).save(root / "train" / "odd.png")
    with pytest.raises(ValueError, match="odd.png has I;16.* truncated"):
        AlignedDataset(root, "train")
    (root / "train" / "odd.png").write_bytes(b"not a png")
    with pytest.raises(OSError, match="cannot read image .*odd.png"):
        AlignedDataset(root, "train")
    (root / "train" / "odd.png").unlink()
    (root / "train_labels").mkdir()
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(root / "train_labels" / "a.png")
    with pytest.raises(FileNotFoundError, match="lacks label maps for 2 of 3"):
        AlignedDataset(root, "train")
    with pytest.raises(ValueError, match="direction"):
        AlignedDataset(root, "train", "AB")
