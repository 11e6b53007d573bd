"""The encoders' weights lookup: order, hash in the name, safe formats only."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from p2pbench.metrics.encoders import EncoderWeightsError, EncoderWeightsNotFound, WeightsSpec
from p2pbench.metrics.encoders.weights import find_weights, load_weights

SPEC = WeightsSpec(
    env="P2PBENCH_TEST_WEIGHTS",
    hub_files=("net-0123abcd.pth",),
    hf_repo="org/net",
    hf_files=("model.safetensors",),
)


@pytest.fixture
def homes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv(SPEC.env, raising=False)
    return tmp_path


def test_lookup_order_argument_env_hub_then_hugging_face(
    homes: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(EncoderWeightsNotFound, match=SPEC.env):
        find_weights("net", SPEC)
    hf = homes / "hf" / "hub" / "models--org--net" / "snapshots" / "abc" / "model.safetensors"
    hf.parent.mkdir(parents=True)
    save_file({"w": torch.ones(2)}, str(hf))
    assert find_weights("net", SPEC) == (hf, "Hugging Face cache")
    hub = homes / "torch" / "hub" / "checkpoints" / "net-0123abcd.pth"
    hub.parent.mkdir(parents=True)
    hub.write_bytes(b"x")
    assert find_weights("net", SPEC) == (hub, "torch hub cache")
    monkeypatch.setenv(SPEC.env, str(hf))
    assert find_weights("net", SPEC) == (hf, f"${SPEC.env}")
    assert find_weights("net", SPEC, hub) == (hub, "argument")
    loaded = load_weights("net", SPEC, hf)
    assert torch.equal(loaded.state_dict["w"], torch.ones(2)) and loaded.official is None


def test_a_hash_in_the_name_is_checked_before_reading(homes: Path) -> None:
    path = homes / "net-0123abcd.pth"
    torch.save({"w": torch.ones(2)}, path)
    with pytest.raises(EncoderWeightsError, match="its name says sha256 0123abcd"):
        load_weights("net", SPEC, path)


def test_torchscript_and_pickled_code_are_refused(homes: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.script(torch.nn.Linear(2, 2)).save(str(homes / "ts.pt"))
    with pytest.raises(EncoderWeightsError, match="TorchScript archive"):
        load_weights("net", SPEC, homes / "ts.pt")
    torch.save({"w": torch.ones(2), "code": Path("x")}, homes / "obj.pth")
    with pytest.raises(EncoderWeightsError, match="other than tensors"):
        load_weights("net", SPEC, homes / "obj.pth")


def test_the_hugging_face_snapshot_is_the_one_refs_main_names(homes: Path) -> None:
    repo = homes / "hf" / "hub" / "models--org--net"
    for commit in ("aaa", "zzz"):
        path = repo / "snapshots" / commit / "model.safetensors"
        path.parent.mkdir(parents=True)
        save_file({"w": torch.ones(1)}, str(path))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("aaa")
    assert find_weights("net", SPEC)[0].parent.name == "aaa"


def test_a_home_relative_path_is_expanded(homes: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(homes))
    torch.save({"w": torch.ones(2)}, homes / "w.pth")
    assert find_weights("net", SPEC, "~/w.pth") == (homes / "w.pth", "argument")
    monkeypatch.setenv(SPEC.env, "~/w.pth")
    assert find_weights("net", SPEC) == (homes / "w.pth", f"${SPEC.env}")
