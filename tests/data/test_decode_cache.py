"""The decode cache: a cached sample is the decoded one, bit for bit; a changed file is decoded
again; a damaged entry is decoded again; synthcity (nothing decoded) is not cached."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from p2pbench.data import AlignedDataset, DecodeCache, build_dataset
from p2pbench.data.cityscapes import CityscapesDataset

SIZE = 24  # resized from 40×40 halves: a filter runs, the cache must keep its exact output


def _equal(a, b) -> bool:  # type: ignore[no-untyped-def]
    labels = (a.label is None and b.label is None) or torch.equal(a.label, b.label)
    return (
        a.sample_id == b.sample_id
        and torch.equal(a.input, b.input)
        and torch.equal(a.target, b.target)
        and labels
    )


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    (tmp_path / "data" / "train").mkdir(parents=True)
    (tmp_path / "data" / "train_labels").mkdir()
    for i in range(3):
        pair = rng.integers(0, 256, (40, 80, 3), dtype=np.uint8)
        Image.fromarray(pair).save(tmp_path / "data" / "train" / f"{i}.png")
        labels = rng.integers(0, 19, (40, 40), dtype=np.uint8)
        Image.fromarray(labels).save(tmp_path / "data" / "train_labels" / f"{i}.png")
    return tmp_path / "data"


def test_a_cached_sample_is_the_decoded_one(folder: Path, tmp_path: Path) -> None:
    plain = AlignedDataset(folder, "train", size=SIZE)
    cached = AlignedDataset(folder, "train", size=SIZE)
    cached.decode_cache = cache = DecodeCache(tmp_path / "cache")
    first = [cached[i] for i in range(3)]
    assert (cache.hits, cache.misses) == (0, 3)
    again = [cached[i] for i in range(3)]
    assert (cache.hits, cache.misses) == (3, 3)
    for i in range(3):
        assert _equal(first[i], plain[i]) and _equal(again[i], plain[i])
    assert len(list((tmp_path / "cache").rglob("*.npz"))) == 3
    assert not list((tmp_path / "cache").rglob(".tmp-*"))  # written atomically


def test_a_changed_file_or_option_is_decoded_again(folder: Path, tmp_path: Path) -> None:
    cache = DecodeCache(tmp_path / "cache")
    data = AlignedDataset(folder, "train", size=SIZE)
    data.decode_cache = cache
    before = data[0]
    new = np.full((40, 80, 3), 7, dtype=np.uint8)
    path = folder / "train" / "0.png"
    Image.fromarray(new).save(path)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # a later modification time
    after = data[0]
    assert not torch.equal(before.input, after.input)
    assert _equal(after, AlignedDataset(folder, "train", size=SIZE)[0])
    other = AlignedDataset(folder, "train", size=SIZE, resize="bilinear")
    other.decode_cache = cache
    assert _equal(other[1], AlignedDataset(folder, "train", size=SIZE, resize="bilinear")[1])
    assert cache.hits == 0


def test_a_damaged_entry_is_decoded_again(folder: Path, tmp_path: Path) -> None:
    cache = DecodeCache(tmp_path / "cache")
    data = AlignedDataset(folder, "train", size=SIZE)
    data.decode_cache = cache
    data[2]
    (entry,) = list((tmp_path / "cache").rglob("*.npz"))
    entry.write_bytes(entry.read_bytes()[:100])  # a truncated file
    assert _equal(data[2], AlignedDataset(folder, "train", size=SIZE)[2])
    assert cache.hits == 0


def test_cityscapes_frames_are_cached_with_their_native_labels(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    sid = "aachen_000000_000019"
    gt, img = tmp_path / "gtFine" / "val" / "aachen", tmp_path / "leftImg8bit" / "val" / "aachen"
    gt.mkdir(parents=True)
    img.mkdir(parents=True)
    Image.fromarray(rng.integers(0, 34, (32, 64), dtype=np.uint8)).save(
        gt / f"{sid}_gtFine_labelIds.png"
    )
    for path in (gt / f"{sid}_gtFine_color.png", img / f"{sid}_leftImg8bit.png"):
        Image.fromarray(rng.integers(0, 256, (32, 64, 3), dtype=np.uint8)).save(path)
    plain = CityscapesDataset(tmp_path, "val", size=SIZE)
    cached = CityscapesDataset(tmp_path, "val", size=SIZE)
    cached.decode_cache = cache = DecodeCache(tmp_path / "cache")
    cached[0]
    assert _equal(cached[0], plain[0]) and cache.hits == 1
    assert cached[0].label.shape == (32, 64)  # type: ignore[union-attr]


def test_synthcity_is_drawn_not_decoded(tmp_path: Path) -> None:
    data = build_dataset("synthcity", "train", size=32, seed=0, n=2, direction=None, data_root=None)
    data.decode_cache = cache = DecodeCache(tmp_path / "cache")
    data[0]
    assert (cache.hits, cache.misses) == (0, 0) and not (tmp_path / "cache").exists()
