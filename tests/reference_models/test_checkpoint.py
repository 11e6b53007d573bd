"""p2pbench checkpoints and the PyTorch port's bare state_dicts."""

from __future__ import annotations

import collections
import os
from pathlib import Path

import pytest
import torch

from p2pbench.base import atomic_path
from reference_models import (
    CheckpointError,
    build_generator,
    load_generator,
    read_generator,
    save_generator,
    translate,
)
from reference_models.generators import GeneratorConfig


def test_p2pbench_checkpoint_round_trip(tmp_path: Path) -> None:
    config = GeneratorConfig(ngf=4, norm="instance", dropout=False)
    g = build_generator("unet32", seed=5, ngf=4, norm="instance", dropout=False)
    save_generator(tmp_path / "g.pt", g, "unet32", config)
    loaded = read_generator(tmp_path / "g.pt")
    assert (loaded.name, loaded.config, loaded.source_format) == ("unet32", config, "p2pbench")
    x = torch.rand(2, 3, 32, 32)
    torch.testing.assert_close(
        translate(loaded.module, x, mode="eval", sample_ids=["a", "b"]),
        translate(g, x, mode="eval", sample_ids=["a", "b"]),
        rtol=0,
        atol=0,
    )
    assert len(loaded.sha256) == 64


@pytest.mark.parametrize(
    "name, options",
    [
        ("unet32", {"norm": "batch"}),
        ("unet64", {"norm": "instance"}),
        ("resnet6", {"norm": "batch", "dropout": True}),
        ("resnet6", {"norm": "instance", "dropout": False}),
        ("resnet9", {"norm": "batch", "dropout": False}),
    ],
)
def test_bare_state_dicts_are_recognised(tmp_path: Path, name: str, options: dict) -> None:
    g = build_generator(name, ngf=8, in_channels=3, out_channels=2, **options)
    torch.save(g.state_dict(), tmp_path / "latest_net_G.pth")
    loaded = read_generator(tmp_path / "latest_net_G.pth")
    assert loaded.name == name and loaded.source_format == "pytorch-port"
    assert (loaded.config.norm, loaded.config.ngf, loaded.config.out_channels) == (
        options["norm"],
        8,
        2,
    )
    if name.startswith("resnet"):
        assert loaded.config.dropout == options["dropout"]
    else:
        assert loaded.config.dropout_layers == "port"
    for k, v in g.state_dict().items():
        assert torch.equal(loaded.module.state_dict()[k], v)


def test_port_unet_dropout_is_an_explicit_recorded_choice(tmp_path: Path) -> None:
    torch.save(build_generator("unet32", ngf=4).state_dict(), tmp_path / "g.pth")
    default = read_generator(tmp_path / "g.pth")
    assert default.config.dropout and "assumed" in default.notes[0]
    off = read_generator(tmp_path / "g.pth", dropout=False)
    assert not off.config.dropout and "given" in off.notes[0]


def test_data_parallel_prefix_is_accepted(tmp_path: Path) -> None:
    state = {f"module.{k}": v for k, v in build_generator("unet32", ngf=4).state_dict().items()}
    torch.save(state, tmp_path / "g.pth")
    assert load_generator(tmp_path / "g.pth")[1] == "unet32"


def test_unknown_architecture_names_the_differing_keys(tmp_path: Path) -> None:
    state = build_generator("unet64", ngf=4).state_dict()
    state["model.model.1.model.1.weight"] = torch.zeros(3, 3, 3, 3)
    del state["model.model.3.bias"]
    torch.save(state, tmp_path / "g.pth")
    with pytest.raises(CheckpointError) as e:
        load_generator(tmp_path / "g.pth")
    message = str(e.value)
    assert "Closest: unet64" in message
    assert "missing: model.model.3.bias" in message
    assert "model.model.1.model.1.weight: file (3, 3, 3, 3)" in message


class _Payload:
    def __reduce__(self):  # would run code if unpickled
        return (os.system, ("echo pwned > /dev/null",))


def test_pickled_objects_are_refused(tmp_path: Path) -> None:
    torch.save({"model": _Payload()}, tmp_path / "evil.pth")
    with pytest.raises(CheckpointError, match="not loaded"):
        load_generator(tmp_path / "evil.pth")


def test_truncated_and_missing_files(tmp_path: Path) -> None:
    g = build_generator("unet32", ngf=4)
    torch.save(g.state_dict(), tmp_path / "g.pth")
    data = (tmp_path / "g.pth").read_bytes()
    (tmp_path / "cut.pth").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="cannot read"):
        load_generator(tmp_path / "cut.pth")
    with pytest.raises(CheckpointError, match="not found"):
        load_generator(tmp_path / "nope.pth")
    torch.save(collections.OrderedDict(), tmp_path / "empty.pth")
    with pytest.raises(CheckpointError, match="empty"):
        load_generator(tmp_path / "empty.pth")


def test_atomic_write_leaves_nothing_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "result.pt"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"partial")
            raise RuntimeError("crash mid-write")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []
