"""`generate`'s output folder: refused when non-empty (before any model is loaded), accepted
when empty or missing, replaced with `overwrite`, never the data it reads, and written whole
(one rename) by a single process or by 2 ranks."""

from __future__ import annotations

import importlib
import json
import os
from pathlib import Path
from typing import Any

import pytest
import torch.distributed as dist
import torch.multiprocessing as mp
from click.testing import CliRunner

from p2pbench.cli import main
from p2pbench.cli.errors import EXIT_BAD_INPUT
from p2pbench.evaluation import GeneratorFile, RunSpec, generate
from p2pbench.protocols import aligned_protocol

generate_module = importlib.import_module("p2pbench.evaluation.generate")
RUN = RunSpec(batch_size=2, progress=False)


def _tree(folder: Path) -> dict[str, bytes]:
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    return {str(p.relative_to(folder)): p.read_bytes() for p in files}


def _gen(checkpoint: Path, out: Path, limit: int = 3, **kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("protocol", "synthcity@v1")  # the 64 px protocol of the tiny unet64
    return generate(GeneratorFile(str(checkpoint)), out, limit=limit, run=RUN, **kwargs)


@pytest.fixture
def no_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading the generator fails the test: refusals must come before it."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the model was opened before the output folder was checked")

    monkeypatch.setattr(generate_module, "open_source", refuse)


def test_cli_refuses_a_non_empty_folder(
    tiny_checkpoint: Path, tmp_path: Path, no_model: None
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.png").write_bytes(b"not generate's")
    args = ["generate", "--gen", str(tiny_checkpoint), "--data", "synthcity@v1", "--limit", "3"]
    res = CliRunner().invoke(main, [*args, "--quiet", "--out", str(out)])
    assert res.exit_code == EXIT_BAD_INPUT, res.output
    assert "not empty" in res.output and "--overwrite" in res.output
    assert isinstance(res.exception, SystemExit)  # a message, no traceback
    assert _tree(out) == {"mine.png": b"not generate's"}
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


@pytest.mark.parametrize("existing", ["empty", "missing"])
def test_an_empty_or_missing_folder_is_accepted(
    tiny_checkpoint: Path, tmp_path: Path, existing: str
) -> None:
    out = tmp_path / "a" / "out"
    if existing == "empty":
        out.mkdir(parents=True)
    manifest = _gen(tiny_checkpoint, out)
    assert sorted(p.name for p in out.iterdir()) == [
        "000000.png",
        "000001.png",
        "000002.png",
        "generate.json",
    ]
    assert json.loads((out / "generate.json").read_text()) == manifest
    assert [p.name for p in out.parent.iterdir()] == ["out"]  # no temporary leftovers


def test_overwrite_replaces_only_a_generated_folder(tiny_checkpoint: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    _gen(tiny_checkpoint, out, limit=3)
    before = _tree(out)
    with pytest.raises(FileExistsError, match="--overwrite"):
        _gen(tiny_checkpoint, out, limit=2)
    assert _tree(out) == before
    manifest = _gen(tiny_checkpoint, out, limit=2, overwrite=True)
    assert manifest["n_images"] == 2
    assert sorted(p.name for p in out.glob("*.png")) == ["000000.png", "000001.png"]
    assert (out / "000000.png").read_bytes() == before["000000.png"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]

    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not a folder written by p2pbench generate"):
        _gen(tiny_checkpoint, other, overwrite=True)
    assert _tree(other) == {"notes.txt": b"mine"}


def test_the_data_read_and_the_checkpoint_are_never_the_output(
    tiny_checkpoint: Path, tmp_path: Path, no_model: None
) -> None:
    data = tmp_path / "D"
    res = CliRunner().invoke(
        main,
        ["data", "synth", "--out", str(data), "--size", "32", "--n-train", "2", "--n-val", "4"],
    )
    assert res.exit_code == 0, res.output
    before = _tree(data)
    protocol = aligned_protocol(str(data), "val", "BtoA")
    for out, relation in (
        (data / "val" / "x", "is inside"),
        (data, "is"),
        (tmp_path, "contains"),
    ):
        for overwrite in (False, True):
            with pytest.raises(ValueError, match=f"{relation} the dataset folder"):
                _gen(tiny_checkpoint, out, protocol=protocol, overwrite=overwrite)
    assert _tree(data) == before
    with pytest.raises(ValueError, match="contains the checkpoint"):
        _gen(tiny_checkpoint, tiny_checkpoint.parent, overwrite=True)
    assert tiny_checkpoint.is_file()


def _worker(rank: int, world: int, init: str, checkpoint: str, root: str) -> None:
    """Refused on every rank (no collective is entered); a failing rank fails every rank and
    leaves nothing; then the real run."""
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    try:
        with pytest.raises(FileExistsError, match="not empty"):
            _gen(Path(checkpoint), Path(root, "full"), limit=5)

        write = generate_module._write_images

        def fail_on_rank_1(*args: object) -> None:
            if rank == 1:
                raise ValueError("rank 1 cannot write")
            write(*args)

        generate_module._write_images = fail_on_rank_1
        try:
            with pytest.raises(ValueError, match="rank 1 cannot write"):
                _gen(Path(checkpoint), Path(root, "failed"), limit=5)
        finally:
            generate_module._write_images = write
        dist.barrier()  # rank 0 removed the temporary folder before anyone looks
        assert not Path(root, "failed").exists()
        assert not list(Path(root).glob(".failed.*"))

        _gen(Path(checkpoint), Path(root, "two"), limit=5)
        assert Path(root, "two", "generate.json").is_file()  # every rank returns after the rename
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_two_ranks_write_one_folder(tiny_checkpoint: Path, tmp_path: Path) -> None:
    _gen(tiny_checkpoint, tmp_path / "one", limit=5)
    Path(tmp_path, "full").mkdir()
    Path(tmp_path, "full", "keep.txt").write_text("keep")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    init = f"file://{tmp_path / 'init'}"
    mp.spawn(_worker, args=(2, init, str(tiny_checkpoint), str(tmp_path)), nprocs=2)
    one, two = _tree(tmp_path / "one"), _tree(tmp_path / "two")
    assert one.keys() == two.keys() and len(one) == 6
    for name in one:
        if name != "generate.json":
            assert one[name] == two[name], name
    m1, m2 = (json.loads(t["generate.json"]) for t in (one, two))
    assert {**m1, "created": None} == {**m2, "created": None}
    assert _tree(tmp_path / "full") == {"keep.txt": b"keep"}
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["full", "init", "one", "two"] or names == ["full", "one", "two"]
