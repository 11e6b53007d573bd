"""build_dataset, the DataLoader path and the `synth` command."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image
from torch.utils.data import DataLoader

from p2pbench.cli.data import synth_command
from p2pbench.data import (
    AlignedDataset,
    SynthCityDataset,
    build_dataset,
    collate_samples,
    write_synthcity,
)


def _build(name, split="train", size=32, direction=None, n=None, data_root=None):
    return build_dataset(
        name, split, size=size, direction=direction, seed=0, data_root=data_root, n=n
    )


def test_synthcity_defaults() -> None:
    train, val = _build("synthcity"), _build("synthcity", "val")
    assert isinstance(train, SynthCityDataset) and len(train) == 400 and len(val) == 100
    assert train.direction == "BtoA" and len(_build("synthcity", n=5)) == 5


def test_written_synthcity_and_plain_aligned(tmp_path: Path) -> None:
    write_synthcity(tmp_path / "sc", size=32, n_train=2, n_val=1, seed=0)
    ds = _build(str(tmp_path / "sc"), "val")
    assert isinstance(ds, AlignedDataset) and ds.direction == "BtoA" and len(ds) == 1
    assert torch.equal(ds[0].target, _build("synthcity", "val", n=1)[0].target)
    with pytest.raises(ValueError, match="64"):
        _build(str(tmp_path / "sc"), size=64)
    plain = tmp_path / "plain"
    (plain / "train").mkdir(parents=True)
    Image.fromarray(np.zeros((16, 32, 3), np.uint8)).save(plain / "train" / "x.png")
    ds = _build(plain)
    assert ds.direction == "BtoA" and ds[0].input.shape == (3, 32, 32)


def test_labels_can_be_skipped(tmp_path: Path) -> None:
    assert _build("synthcity", n=1)[0].label is not None
    no = build_dataset(
        "synthcity", "train", size=32, direction=None, seed=0, data_root=None, n=1, labels=False
    )
    assert no[0].label is None
    write_synthcity(tmp_path / "sc", size=32, n_train=1, n_val=0, seed=0)
    kwargs = dict(size=32, direction=None, seed=0, data_root=None, n=None)
    assert build_dataset(str(tmp_path / "sc"), "train", **kwargs)[0].label is not None
    assert build_dataset(str(tmp_path / "sc"), "train", labels=False, **kwargs)[0].label is None
    with pytest.raises(FileNotFoundError, match="no split 'test'"):
        build_dataset(str(tmp_path / "sc"), "test", **kwargs)


def test_unknown_name_lists_choices() -> None:
    with pytest.raises(ValueError, match="synthcity, cityscapes"):
        _build("facadez")
    with pytest.raises(ValueError, match="cityscapes only"):
        _build("synthcity", data_root="/somewhere")


def test_dataloader_batches() -> None:
    loader = DataLoader(_build("synthcity", n=5), batch_size=2, collate_fn=collate_samples)
    batches = list(loader)
    assert [len(b) for b in batches] == [2, 2, 1]
    assert batches[0].input.shape == (2, 3, 32, 32) and batches[0].label.shape == (2, 32, 32)
    assert batches[2].sample_ids == ("000004",)


def test_synth_command(tmp_path: Path) -> None:
    args = [
        "--out",
        str(tmp_path / "s"),
        "--size",
        "32",
        "--n-train",
        "2",
        "--n-val",
        "1",
        "--seed",
        "3",
    ]
    result = CliRunner().invoke(synth_command, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["counts"] == {"train": 2, "val": 1} and summary["seed"] == 3
    again = CliRunner().invoke(synth_command, args)
    assert again.exit_code != 0 and "already exists" in str(again.exception)
