"""Cityscapes in its official layout, on a tiny fake tree (2 cities, 3 frames, 64×128 labels)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from reference.fake_cityscapes import FRAMES, OFFICIAL, H, W, make_tree

from p2pbench.data import CityscapesDataset, to_tensor_image


@pytest.fixture
def root(tmp_path: Path) -> Path:
    make_tree(tmp_path)
    return tmp_path


def test_order_ids_and_frame_index(root: Path) -> None:
    ds = CityscapesDataset(root, "val", size=32)
    expected = sorted(FRAMES)  # sorted colour-file paths: city folder, then file name
    assert list(ds.sample_ids) == expected
    assert [ds[i].sample_id for i in range(3)] == expected
    assert dict(ds.frame_index) == {sid: i for i, sid in enumerate(expected)}


def test_label_mapping_and_native_resolution(root: Path) -> None:
    s = CityscapesDataset(root, "val", size=32)[0]
    ids = np.asarray(
        Image.open(root / "gtFine/val/aachen" / "aachen_000000_000019_gtFine_labelIds.png")
    )
    expected = np.vectorize(OFFICIAL.get)(ids)
    assert s.label.dtype == torch.int64 and s.label.shape == (H, W)  # never resized
    np.testing.assert_array_equal(s.label.numpy(), expected)
    assert s.input.shape == s.target.shape == (3, 32, 32)


def test_direction_and_resize_filters(root: Path) -> None:
    base = root / "gtFine/val/aachen/aachen_000000_000019"
    color = Image.open(f"{base}_gtFine_color.png").convert("RGB")
    photo = Image.open(root / "leftImg8bit/val/aachen/aachen_000000_000019_leftImg8bit.png")
    inputs = {}
    for name, flt in (
        ("bilinear", Image.Resampling.BILINEAR),
        ("nearest", Image.Resampling.NEAREST),
    ):
        s = CityscapesDataset(root, "val", size=32, label_resize=name)[0]
        assert torch.equal(s.input, to_tensor_image(color.resize((32, 32), flt)))
        inputs[name] = s.input
    assert not torch.equal(inputs["bilinear"], inputs["nearest"])
    s = CityscapesDataset(root, "val", size=32)[0]  # defaults: bicubic for both
    assert torch.equal(s.input, to_tensor_image(color.resize((32, 32), Image.Resampling.BICUBIC)))
    assert torch.equal(s.target, to_tensor_image(photo.resize((32, 32), Image.Resampling.BICUBIC)))
    ab = CityscapesDataset(root, "val", size=32, direction="AtoB")[0]
    assert torch.equal(ab.input, s.target) and torch.equal(ab.target, s.input)


def test_root_from_environment(root: Path, monkeypatch) -> None:
    monkeypatch.setenv("CITYSCAPES_DATASET", str(root))
    assert len(CityscapesDataset(None, "val", size=32)) == 3


def test_missing_root_says_where_it_looked(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("CITYSCAPES_DATASET", raising=False)
    with pytest.raises(FileNotFoundError, match="CITYSCAPES_DATASET"):
        CityscapesDataset(None, "val")
    with pytest.raises(FileNotFoundError, match=f"{tmp_path}.*--data-root"):
        CityscapesDataset(tmp_path, "val")


def test_missing_photo_wrong_label_size_and_zero_frames(root: Path) -> None:
    (root / "gtFine/test").mkdir()
    (root / "leftImg8bit/test").mkdir()
    with pytest.raises(FileNotFoundError, match="zero frames"):
        CityscapesDataset(root, "test")
    label = root / "gtFine/val/bochum/bochum_000000_000313_gtFine_labelIds.png"
    Image.fromarray(np.zeros((32, 64), np.uint8)).save(label)
    with pytest.raises(ValueError, match="labelIds.png is 64×32"):
        CityscapesDataset(root, "val", size=32)[2]
    (root / "leftImg8bit/val/bochum/bochum_000000_000313_leftImg8bit.png").unlink()
    with pytest.raises(FileNotFoundError, match="has no photo"):
        CityscapesDataset(root, "val")


def test_unknown_label_id_is_an_error(root: Path) -> None:
    label = root / "gtFine/val/aachen/aachen_000000_000019_gtFine_labelIds.png"
    Image.fromarray(np.full((H, W), 99, np.uint8)).save(label)
    with pytest.raises(ValueError, match=r"label ids \[99\]"):
        CityscapesDataset(root, "val", size=32)[0]


def test_training_path_without_labels_takes_the_jitter(root: Path) -> None:
    from p2pbench.data import Jitter, build_dataset

    kwargs = dict(size=32, direction=None, seed=0, data_root=str(root), n=None)
    ds = build_dataset("cityscapes", "val", transform=Jitter(32), labels=False, **kwargs)
    s = ds[0]
    assert s.label is None and s.input.shape == (3, 32, 32)
    with_labels = build_dataset("cityscapes", "val", transform=Jitter(32), **kwargs)
    with pytest.raises(ValueError, match="labels=False"):
        with_labels[0]
