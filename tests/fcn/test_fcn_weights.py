"""Converting once into the cache, loading safely, and finding the official weights."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch

from fcn import weights as W
from fcn.caffemodel import CaffeModelError
from fcn.fcn8s import OFFICIAL_ARCH, FCN8s, FCN8sArch
from p2pbench.base import sha256_file


@pytest.fixture
def tiny_file(writer: ModuleType, tiny_layers: list, tmp_path: Path) -> Path:
    path = tmp_path / "tiny.caffemodel"
    with open(path, "wb") as f:
        writer.write_caffemodel(f, tiny_layers, writer.hashed_values(11), writer.Encoding())
    return path


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("P2PBENCH_HOME", str(tmp_path / "home"))
    monkeypatch.delenv(W.ENV_WEIGHTS, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path / "home"


def test_home_directory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("P2PBENCH_HOME", str(tmp_path / "a"))
    assert W.p2pbench_home() == tmp_path / "a"
    monkeypatch.delenv("P2PBENCH_HOME")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert W.fcn_cache_dir() == tmp_path / "xdg" / "p2pbench" / "fcn"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    assert W.p2pbench_home() == tmp_path / "user" / ".cache" / "p2pbench"


def test_convert_once_into_the_cache(
    tiny_file: Path, tiny_arch: FCN8sArch, home: Path, writer: ModuleType, tiny_layers: list
) -> None:
    out = W.convert_caffemodel(tiny_file, architecture=tiny_arch)
    sha = sha256_file(tiny_file)
    assert out == home / "fcn" / f"{sha}.pt"
    data = torch.load(out, weights_only=True)
    assert data["format"] == W.WEIGHTS_FORMAT and data["version"] == W.WEIGHTS_VERSION
    assert data["source"] == {
        "file_name": "tiny.caffemodel",
        "bytes": tiny_file.stat().st_size,
        "sha256": sha,
        "net_name": "FCN8s",
        "layer_format": "layer",
        "official": False,
    }
    mtime = out.stat().st_mtime_ns
    assert W.convert_caffemodel(tiny_file, architecture=tiny_arch) == out
    assert out.stat().st_mtime_ns == mtime  # reused, not rewritten
    assert [p.name for p in out.parent.iterdir()] == [out.name]  # no temporary left behind

    model = W.load_fcn8s(out)
    assert isinstance(model, FCN8s) and not model.training and model.arch == tiny_arch
    values = writer.hashed_values(11)
    for spec in tiny_layers:
        for i, (key, shape) in enumerate(zip(("weight", "bias"), spec.blob_shapes, strict=False)):
            got = model.get_parameter(f"{spec.name}.{key}")
            assert got.device.type == "cpu"
            np.testing.assert_array_equal(
                got.detach().numpy().ravel(), values(spec.name, i, 0, int(np.prod(shape)))
            )
    assert model(torch.zeros(1, 3, 20, 30)).shape == (1, 20, 20, 30)


def test_official_architecture_checks_size_then_shapes(tiny_file: Path, home: Path) -> None:
    with pytest.raises(
        CaffeModelError,
        match=r"has \d[\d,]* bytes; the official "
        r"fcn-8s-cityscapes.caffemodel has 537,896,724",
    ):
        W.convert_caffemodel(tiny_file)
    with pytest.raises(
        CaffeModelError,
        match=r"'conv1_1' weight \(blob 0\) has shape "
        r"\(4, 3, 3, 3\), expected \(64, 3, 3, 3\)",
    ):
        W.convert_caffemodel(tiny_file, check_size=False)
    assert not (home / "fcn").exists() or not list((home / "fcn").iterdir())


def test_read_converted_rejects_other_files(tmp_path: Path) -> None:
    torch.save({"conv1_1.weight": torch.zeros(1)}, tmp_path / "bare.pt")
    with pytest.raises(CaffeModelError, match="expected a 'p2pbench-fcn8s-weights' file"):
        W.read_converted(tmp_path / "bare.pt")
    torch.save({"x": Path("object")}, tmp_path / "pickle.pt")
    with pytest.raises(CaffeModelError, match="holds Python objects other than tensors"):
        W.read_converted(tmp_path / "pickle.pt")


def test_missing_weights_message_lists_every_place(home: Path, tmp_path: Path) -> None:
    with pytest.raises(W.FCNWeightsNotFound) as info:
        W.find_official_weights()
    message = str(info.value)
    for expected in (
        "$P2PBENCH_FCN_WEIGHTS: not set",
        f"{home / 'fcn'}/<sha256>.pt",
        str(home / "fcn" / "fcn-8s-cityscapes.caffemodel"),
        str(tmp_path / "fcn-8s-cityscapes.caffemodel"),
        "537,896,724 bytes",
        *W.OFFICIAL_URLS,
        "p2pbench fcn convert fcn-8s-cityscapes.caffemodel",
    ):
        assert expected in message, expected


def test_env_variable_wins_and_must_exist(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(W.ENV_WEIGHTS, str(tmp_path / "nowhere.pt"))
    with pytest.raises(W.FCNWeightsNotFound, match="nowhere.pt, which is not a file"):
        W.find_official_weights()
    (tmp_path / "mine.pt").write_bytes(b"")
    monkeypatch.setenv(W.ENV_WEIGHTS, str(tmp_path / "mine.pt"))
    assert W.find_official_weights() == tmp_path / "mine.pt"


def test_finds_caffemodel_then_converted(home: Path, tmp_path: Path) -> None:
    local = tmp_path / W.OFFICIAL_FILE_NAME
    local.write_bytes(b"")
    assert W.find_official_weights() == local
    cached = home / "fcn" / W.OFFICIAL_FILE_NAME
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"")
    assert W.find_official_weights() == cached
    converted = home / "fcn" / f"{'0' * 64}.pt"
    payload = {
        "format": W.WEIGHTS_FORMAT,
        "version": W.WEIGHTS_VERSION,
        "architecture": OFFICIAL_ARCH.as_dict(),
        "source": {"official": True},
        "state_dict": {},
    }
    torch.save(payload, converted)
    torch.save({**payload, "source": {"official": False}}, home / "fcn" / f"{'1' * 64}.pt")
    assert W.find_official_weights() == converted
