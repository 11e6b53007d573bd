"""Crash safety: output folders appear whole or not at all; caches never load half-written.

In process: `base.atomic_dir` (refusal before any work, cleanup, replacement, a failed swap).
As subprocesses (slow): `p2pbench data synth` and `p2pbench generate` are SIGKILLed at seeded
points, chosen deterministically as "k files in the temporary folder" (the child is stepped with
SIGSTOP / SIGCONT while it writes, so it cannot finish between the count and the kill); the
target must then be absent (or exactly its old content under --overwrite), and a rerun must give
the same bytes as an uninterrupted run. A statistics-cache writer is killed mid-`torch.save`.
"""

from __future__ import annotations

import errno
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from p2pbench import base
from p2pbench.base import atomic_dir, check_new_output_dir
from p2pbench.data.synthcity import write_synthcity
from p2pbench.evaluation import GeneratorFile, RunSpec, generate
from p2pbench.metrics.reference_stats import load_stats
from reference_models import GeneratorConfig, build_generator, save_generator

SEED = 2017  # picks the kill points
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def _tree(folder: Path) -> dict[str, bytes]:
    """Every file under `folder`, by relative path."""
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# --- atomic_dir, in process -------------------------------------------------------------------


def test_atomic_dir_appears_whole_with_normal_permissions(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "out"
    with atomic_dir(target) as tmp:
        assert tmp.parent == target.parent and tmp.is_dir() and not target.exists()
        assert tmp.name.startswith(".out.") and tmp.name.endswith(".tmp")
        (tmp / "a.txt").write_text("a")
    assert _tree(target) == {"a.txt": b"a"}
    assert [p.name for p in target.parent.iterdir()] == ["out"]  # no leftovers
    assert target.stat().st_mode & 0o777 == 0o777 & ~_umask()  # not mkdtemp's 0o700


@pytest.mark.parametrize("existing", [False, True])
def test_a_failing_body_leaves_the_target_untouched(tmp_path: Path, existing: bool) -> None:
    target = tmp_path / "out"
    if existing:
        target.mkdir()
        (target / "old.txt").write_text("old")
    before = _tree(target) if existing else None
    with pytest.raises(KeyboardInterrupt), atomic_dir(target, overwrite=True) as tmp:
        (tmp / "new.txt").write_text("new")
        raise KeyboardInterrupt
    assert (_tree(target) if target.exists() else None) == before
    assert [p.name for p in tmp_path.iterdir()] == (["out"] if existing else [])


def test_a_non_empty_folder_is_refused_before_any_work(tmp_path: Path) -> None:
    target = tmp_path / "out"
    target.mkdir()
    (target / "keep.txt").write_text("keep")
    ran = False
    with pytest.raises(FileExistsError, match="not empty; pass --overwrite"), atomic_dir(target):
        ran = True
    assert not ran and _tree(target) == {"keep.txt": b"keep"}
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    (tmp_path / "file").write_text("x")
    for overwrite in (False, True):
        with pytest.raises(FileExistsError, match="is not a folder"):
            check_new_output_dir(tmp_path / "file", overwrite)
    (tmp_path / "link").symlink_to(target)
    with pytest.raises(FileExistsError, match="symbolic link"):
        check_new_output_dir(tmp_path / "link", True)


def test_an_empty_folder_is_accepted(tmp_path: Path) -> None:
    target = tmp_path / "out"
    target.mkdir()
    with atomic_dir(target) as tmp:
        (tmp / "a.txt").write_text("a")
    assert _tree(target) == {"a.txt": b"a"}
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


@pytest.fixture(params=["exchange", "two renames"])
def swap(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Both ways of replacing a folder: renameat2's exchange, and the portable fallback."""
    if request.param == "two renames":
        monkeypatch.setattr(base, "_exchange", lambda a, b: False)
    yield request.param


def test_overwrite_replaces_the_folder(tmp_path: Path, swap: str) -> None:
    target = tmp_path / "out"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with atomic_dir(target, overwrite=True) as tmp:
        assert (target / "old.txt").exists()  # untouched while the new one is written
        (tmp / "new.txt").write_text("new")
    assert _tree(target) == {"new.txt": b"new"}
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_a_failed_swap_keeps_the_old_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "out"
    target.mkdir()
    (target / "old.txt").write_text("old")
    monkeypatch.setattr(base, "_exchange", lambda a, b: False)
    real_rename = os.rename

    def rename(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> None:
        if Path(a).suffix == ".tmp" and not target.exists():  # the new one, the old one aside
            raise OSError(errno.EIO, "injected failure")
        real_rename(a, b)

    monkeypatch.setattr(os, "rename", rename)
    with pytest.raises(OSError, match="injected"), atomic_dir(target, overwrite=True) as tmp:
        (tmp / "new.txt").write_text("new")
    monkeypatch.undo()
    assert _tree(target) == {"old.txt": b"old"}
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_a_folder_filled_meanwhile_is_not_replaced(tmp_path: Path) -> None:
    target = tmp_path / "out"
    with pytest.raises(FileExistsError, match="appeared"), atomic_dir(target) as tmp:
        (tmp / "new.txt").write_text("new")
        target.mkdir()
        (target / "other.txt").write_text("other")
    assert _tree(target) == {"other.txt": b"other"}
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


# --- SIGKILL at seeded points, as subprocesses ------------------------------------------------


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "p2pbench", *args]


def _temp_dirs(target: Path) -> set[Path]:
    return set(target.parent.glob(f".{target.name}.*.tmp"))


def _n_files(folders: set[Path]) -> int:
    return sum(len(files) for folder in folders for _, _, files in os.walk(folder))


def _kill_at(command: list[str], target: Path, k: int, cwd: Path) -> int:
    """Run `command`, SIGKILL it once its new temporary folder beside `target` holds at least
    `k` files; returns how many it held. Fails if the command ends first."""
    before, fresh = _temp_dirs(target), not target.exists()
    log = cwd / "stderr.log"
    with open(log, "wb") as err:
        proc = subprocess.Popen(command, cwd=cwd, env=ENV, stdout=subprocess.DEVNULL, stderr=err)
    deadline = time.monotonic() + 300
    try:
        while not (_temp_dirs(target) - before):  # starting up: imports, model, data
            assert proc.poll() is None, f"ended before writing: {log.read_text()}"
            assert not (fresh and target.exists()), f"{target} appeared before it was complete"
            assert time.monotonic() < deadline, "no temporary folder appeared"
            time.sleep(0.002)
        while True:  # writing: stepped, so it cannot finish between the count and the kill
            proc.send_signal(signal.SIGSTOP)
            held = _n_files(_temp_dirs(target) - before)
            if held >= k:
                proc.send_signal(signal.SIGKILL)
                break
            assert proc.poll() is None, f"ended before {k} files were written"
            assert time.monotonic() < deadline, f"{k} files never appeared"
            proc.send_signal(signal.SIGCONT)
            time.sleep(0.001)
        assert proc.wait() == -signal.SIGKILL, "the command finished before the kill"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return held


def _kill_points(n: int, total: int) -> list[int]:
    """`n` seeded file counts in [0, total): early, middle and late in the write."""
    rng = random.Random(SEED)
    return sorted(rng.randrange(i * total // n, (i + 1) * total // n) for i in range(n))


def _only_hidden_leftovers(target: Path, *also: str) -> None:
    names = {p.name for p in target.parent.iterdir()}
    visible = {n for n in names if not n.startswith(f".{target.name}.")}
    assert visible <= {target.name, "stderr.log", *also}, visible
    assert all(n.endswith(".tmp") for n in names - visible)


SYNTH = {"size": 32, "n_train": 20, "n_val": 10}
SYNTH_ARGS = ["--size", "32", "--n-train", "20", "--n-val", "10"]


@pytest.mark.slow
def test_killed_data_synth_leaves_no_dataset_and_keeps_an_old_one(tmp_path: Path) -> None:
    whole = _tree(write_synthcity(tmp_path / "whole", **SYNTH))  # the uninterrupted run
    target = tmp_path / "sc"
    command = _cli("data", "synth", "--out", str(target), *SYNTH_ARGS)
    early, middle, late = _kill_points(3, len(whole))
    for k in (early, late):
        held = _kill_at(command, target, k, tmp_path)
        assert not target.exists(), f"killed at {held} files, {target} exists"
    subprocess.run(command, cwd=tmp_path, env=ENV, check=True, capture_output=True)
    assert _tree(target) == whole  # byte-identical, manifest included

    other = [*command, "--seed", "1", "--overwrite"]  # different content over the old folder
    _kill_at(other, target, middle, tmp_path)
    assert _tree(target) == whole
    _only_hidden_leftovers(target, "whole")


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained unet64 (4 filters) in p2pbench's checkpoint format."""
    path = tmp_path_factory.mktemp("ckpt") / "g.pt"
    save_generator(path, build_generator("unet64", seed=3, ngf=4), "unet64", GeneratorConfig(ngf=4))
    return path


LIMIT, BATCH = 30, 2


def _pngs(tree: dict[str, bytes]) -> dict[str, bytes]:
    return {k: v for k, v in tree.items() if k != "generate.json"}


def _manifest(tree: dict[str, bytes]) -> dict:
    """generate.json but the time it was written."""
    manifest = json.loads(tree["generate.json"])
    del manifest["created"]
    return manifest


@pytest.mark.slow
def test_killed_generate_leaves_no_folder_and_a_rerun_is_identical(
    tiny_checkpoint: Path, tmp_path: Path
) -> None:
    generate(
        GeneratorFile(str(tiny_checkpoint)),
        tmp_path / "whole",
        protocol="synthcity@v1",
        limit=LIMIT,
        run=RunSpec(batch_size=BATCH, progress=False),
    )
    whole = _tree(tmp_path / "whole")
    assert len(whole) == LIMIT + 1
    target = tmp_path / "gen"
    command = _cli(
        "generate",
        "--gen",
        str(tiny_checkpoint),
        "--data",
        "synthcity@v1",
        "--limit",
        str(LIMIT),
        "--batch-size",
        str(BATCH),
        "--quiet",
        "--out",
        str(target),
    )
    for k in _kill_points(2, LIMIT + 1):
        held = _kill_at(command, target, k, tmp_path)
        assert not target.exists(), f"killed at {held} files, {target} exists"
    subprocess.run(command, cwd=tmp_path, env=ENV, check=True, capture_output=True)
    rerun = _tree(target)
    assert _pngs(rerun) == _pngs(whole)  # byte-identical images
    assert _manifest(rerun) == _manifest(whole)
    _only_hidden_leftovers(target, "whole")


def _size(path: Path) -> int:
    """Its size; 0 once it is gone (renamed into place meanwhile)."""
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


STATS_WRITER = """
import sys
import torch
from p2pbench.metrics.reference_stats import ReferenceStats, save_stats

d, n = 512, 4000  # about 20 MB a file: each save takes a while
g = torch.Generator().manual_seed(0)
features = torch.rand(n, d, generator=g, dtype=torch.float64)
stats = ReferenceStats(n, features.sum(0), features.T @ features, features, {"test": True})
for i in range(10_000):
    save_stats(stats, f"{sys.argv[1]}/stats{i % 3}.pt")
"""


@pytest.mark.slow
def test_a_killed_statistics_write_never_leaves_a_complete_looking_file(tmp_path: Path) -> None:
    for k in _kill_points(2, 8):  # killed while writing the k-th file (0-based)
        folder = tmp_path / f"k{k}"
        folder.mkdir()
        log = tmp_path / f"k{k}.log"
        with open(log, "wb") as err:
            proc = subprocess.Popen(
                [sys.executable, "-c", STATS_WRITER, str(folder)],
                env=ENV,
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
        seen: set[str] = set()
        deadline = time.monotonic() + 300
        try:
            while True:
                assert proc.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "the writer made no progress"
                partial = [p for p in folder.glob(".*.tmp") if _size(p) > 0]
                seen.update(p.name for p in partial)
                if len(seen) > k and partial:
                    proc.send_signal(signal.SIGSTOP)  # still mid-write once stopped?
                    if any(p.exists() for p in partial):
                        proc.send_signal(signal.SIGKILL)
                        break
                    proc.send_signal(signal.SIGCONT)
                time.sleep(0.001)
            assert proc.wait() == -signal.SIGKILL
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert list(folder.glob(".*.tmp")), "killed mid-write: a temporary file remains"
        finals = sorted(folder.glob("*.pt"))
        assert len(finals) >= min(k, 3)  # the writes completed before the kill
        for path in finals:
            stats = load_stats(path)  # complete, never a truncated final-named file
            assert stats.n == 4000 and stats.features is not None
