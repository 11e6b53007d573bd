"""synthcity: determinism, independence of samples, the written folder and label consistency."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from p2pbench.data import (
    SYNTHCITY_CLASSES,
    SYNTHCITY_VERSION,
    SYNTHCITY_VERSIONS,
    AlignedDataset,
    SynthCityDataset,
    read_manifest,
    synthcity_arrays,
    to_uint8,
    verify_synthcity,
    write_synthcity,
)
from p2pbench.data.factory import build_dataset
from p2pbench.data.synthcity.layout import draw_scene
from p2pbench.data.synthcity.render import render

# Cityscapes trainId → colour, written by hand from the official label table.
OFFICIAL_COLORS = {
    0: (128, 64, 128),
    1: (244, 35, 232),
    2: (70, 70, 70),
    5: (153, 153, 153),
    7: (220, 220, 0),
    8: (107, 142, 35),
    10: (70, 130, 180),
    11: (220, 20, 60),
    13: (0, 0, 142),
}


def _equal(a, b) -> bool:
    return (
        torch.equal(a.input, b.input)
        and torch.equal(a.target, b.target)
        and torch.equal(a.label, b.label)
        and a.sample_id == b.sample_id
    )


def test_classes_use_official_ids_and_colours() -> None:
    table = {c.train_id: c.color for c in SYNTHCITY_CLASSES}
    for tid, color in OFFICIAL_COLORS.items():
        assert table[tid] == color
    assert len(table) == len(SYNTHCITY_CLASSES)


def test_same_seed_same_sample_other_seed_differs() -> None:
    a = SynthCityDataset(size=32, n=2, seed=3)[1]
    assert _equal(a, SynthCityDataset(size=32, n=2, seed=3)[1])
    b = SynthCityDataset(size=32, n=2, seed=4)[1]
    assert not torch.equal(a.target, b.target) and not torch.equal(a.label, b.label)
    val = SynthCityDataset(size=32, split="val", n=2, seed=3)[1]
    assert not torch.equal(a.label, val.label)


def test_sample_independent_of_n_and_order() -> None:
    big = SynthCityDataset(size=32, n=50, seed=1)
    small = SynthCityDataset(size=32, n=6, seed=1)
    assert _equal(big[5], small[5])
    assert big[5].sample_id == "000005"


def test_labels_colours_and_photo() -> None:
    s = SynthCityDataset(size=64, n=1, direction="BtoA")[0]
    colors = to_uint8(s.input)
    table = {c.train_id: c.color for c in SYNTHCITY_CLASSES}
    ids = s.label.numpy()
    assert set(np.unique(ids)) <= set(table) and {0, 1, 2, 10} <= set(np.unique(ids))
    expected = np.array([table[i] for i in range(256) if i in table], dtype=np.uint8)
    lut = np.zeros((256, 3), np.uint8)
    lut[sorted(table)] = expected
    np.testing.assert_array_equal(colors, lut[ids])
    photo = to_uint8(s.target)
    assert (photo != colors).any(axis=-1).mean() > 0.95  # the photo is not the label colours
    ab = SynthCityDataset(size=64, n=1, direction="AtoB")[0]
    assert torch.equal(ab.input, s.target) and torch.equal(ab.target, s.input)


@pytest.mark.parametrize("version", SYNTHCITY_VERSIONS)
def test_sky_only_above_the_horizon(version: int) -> None:
    # every pixel below the horizon belongs to the ground, a facade or an object
    for i in range(10):
        scene = draw_scene(np.random.default_rng([0, 0, i, 0]), version)
        _, ids = render(scene, 32, np.random.default_rng([0, 0, i, 1]))
        below = (np.arange(32) + 0.5) / 32 > scene.camera.horizon
        assert not (ids[below] == 10).any()


def test_layout_is_resolution_independent() -> None:
    _, small = synthcity_arrays(0, "train", 7, 32)
    _, large = synthcity_arrays(0, "train", 7, 64)
    # 2×2 blocks of the 64 px map straddle the 32 px pixel centres: most agree
    agree = np.mean([(large[i::2, j::2] == small).mean() for i in (0, 1) for j in (0, 1)])
    assert agree > 0.9


def test_written_folder_equals_on_the_fly(tmp_path: Path) -> None:
    out = write_synthcity(tmp_path / "sc", size=32, n_train=3, n_val=2, seed=5)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sc"]  # no temporary leftovers
    manifest = json.loads((out / "synthcity.json").read_text())
    assert manifest["size"] == 32 and manifest["seed"] == 5
    assert manifest["counts"] == {"train": 3, "val": 2}
    assert manifest["generator_version"] == str(SYNTHCITY_VERSION) and len(manifest["files"]) == 10
    verify_synthcity(out)
    for split, n in (("train", 3), ("val", 2)):
        disk = AlignedDataset(out, split, direction="BtoA")
        fly = SynthCityDataset(size=32, split=split, n=n, seed=5, direction="BtoA")
        assert len(disk) == n
        for i in range(n):
            assert _equal(disk[i], fly[i])
    assert AlignedDataset(out, "train", direction="AtoB")[0].input.shape == (3, 32, 32)


def test_writing_refuses_to_clobber_and_detects_changes(tmp_path: Path) -> None:
    out = write_synthcity(tmp_path / "sc", size=32, n_train=1, n_val=1, seed=0)
    with pytest.raises(FileExistsError, match="already exists"):
        write_synthcity(out, size=32, n_train=1, n_val=1, seed=0)
    write_synthcity(out, size=32, n_train=2, n_val=1, seed=0, overwrite=True)
    assert read_manifest(out)["counts"]["train"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sc"]
    (tmp_path / "other").mkdir()
    with pytest.raises(FileExistsError, match="not a synthcity folder"):
        write_synthcity(tmp_path / "other", size=32, n_train=1, n_val=1, overwrite=True)
    (out / "val" / "000000.png").write_bytes(b"changed")
    with pytest.raises(ValueError, match="missing or changed"):
        verify_synthcity(out)


def test_interrupted_write_leaves_nothing(tmp_path: Path) -> None:
    def stop(done: int, total: int) -> None:
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_synthcity(tmp_path / "sc", size=32, n_train=3, n_val=1, progress=stop)
    assert list(tmp_path.iterdir()) == []


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="power of two"):
        SynthCityDataset(size=100)
    with pytest.raises(ValueError, match="split"):
        SynthCityDataset(size=32, split="dev")


# sha256 over photo and trainId bytes of train/val samples 0-5 at 64 and 128 px, computed with
# the first release's code (commit e1e596c) before version 2 existed.
VERSION_1_DIGEST = "a36a0437a30fcd376a540a31d187a59270ad7d0111a5860fc78454692e77c849"


def test_version_1_is_the_first_release_bit_for_bit() -> None:
    h = hashlib.sha256()
    for split in ("train", "val"):
        for i in range(6):
            for size in (64, 128):
                photo, ids = synthcity_arrays(0, split, i, size, version=1)
                h.update(photo.tobytes())
                h.update(ids.tobytes())
    assert h.hexdigest() == VERSION_1_DIGEST


def _inner_fraction(version: int, train_id: int, n: int = 30) -> float:
    """Fraction of a class's pixels at 128 px whose 2 neighbours on each side share it."""
    inner = total = 0
    for i in range(n):
        _, ids = synthcity_arrays(0, "val", i, 128, version)
        m = ids == train_id
        total += int(m.sum())
        core = m[:, 2:-2] & m[:, 1:-3] & m[:, 3:-1] & m[:, :-4] & m[:, 4:]
        inner += int(core.sum())
    return inner / max(total, 1)


@pytest.mark.parametrize("name", ["pole", "traffic light", "traffic sign", "person"])
def test_version_2_draws_thin_classes_wider(name: str) -> None:
    # version 1's thin classes are mostly 1-4 px wide at 128 px; version 2's are wider
    (train_id,) = [c.train_id for c in SYNTHCITY_CLASSES if c.name == name]
    assert _inner_fraction(2, train_id) > _inner_fraction(1, train_id) + 0.05


def test_dataset_names_select_versions() -> None:
    assert SYNTHCITY_VERSION == max(SYNTHCITY_VERSIONS) == 2
    kw = dict(size=32, direction=None, seed=0, data_root=None, n=2)
    newest = build_dataset("synthcity", "val", **kw)
    v1 = build_dataset("synthcity@v1", "val", **kw)
    v2 = build_dataset("synthcity@v2", "val", **kw)
    assert (newest.version, v1.version, v2.version) == (2, 1, 2)
    assert _equal(newest[0], v2[0]) and not _equal(newest[0], v1[0])
    with pytest.raises(ValueError, match="unknown synthcity version"):
        build_dataset("synthcity@v9", "val", **kw)


def test_written_folder_records_its_version(tmp_path: Path) -> None:
    out = write_synthcity(tmp_path / "s", size=32, n_train=1, n_val=1, version=1)
    assert read_manifest(out)["generator_version"] == "1"
    photo, ids = synthcity_arrays(0, "val", 0, 32, version=1)
    on_disk = AlignedDataset(out, "val", "AtoB", None)[0]
    assert np.array_equal(to_uint8(on_disk.input), photo)
