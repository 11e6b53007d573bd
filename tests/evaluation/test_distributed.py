"""Sharding without padding, and an evaluation on 2 processes equal to 1."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch.distributed as dist
import torch.multiprocessing as mp

from p2pbench.distributed import shard_range
from p2pbench.evaluation import GeneratorFile, RunSpec, ScoreSpec, evaluate
from p2pbench.results import read_result


@pytest.mark.parametrize("n", [0, 1, 7, 500])
@pytest.mark.parametrize("world", [1, 2, 3, 8])
def test_shards_cover_every_sample_once_without_padding(n: int, world: int) -> None:
    shards = [shard_range(n, r, world) for r in range(world)]
    flat = [i for s in shards for i in s]
    assert flat == list(range(n))  # contiguous, in order, no duplicates, no padding
    assert max(len(s) for s in shards) - min(len(s) for s in shards) <= 1


def _worker(rank: int, world: int, init: str, checkpoint: str, out: str) -> None:
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    try:
        result = evaluate(
            GeneratorFile(checkpoint),
            protocol="synthcity@v1",
            score=ScoreSpec(limit=7, per_image=True),
            run=RunSpec(batch_size=2, progress=False),
        )
        result.write(Path(out, f"rank{rank}.json"))
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_two_processes_equal_one(tiny_checkpoint: Path, tmp_path: Path) -> None:
    single = evaluate(
        GeneratorFile(str(tiny_checkpoint)),
        protocol="synthcity@v1",
        score=ScoreSpec(limit=7, per_image=True),
        run=RunSpec(progress=False),
    )
    init = f"file://{tmp_path / 'init'}"
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    mp.spawn(_worker, args=(2, init, str(tiny_checkpoint), str(tmp_path)), nprocs=2)
    for rank in range(2):
        result = read_result(tmp_path / f"rank{rank}.json")
        assert result.provenance["world_size"] == 2
        fcn = ("per_pixel_acc", "per_class_acc", "class_iou", "per_class")
        assert {k: result.metrics[k] for k in fcn} == {k: single.metrics[k] for k in fcn}
        for k in ("l1", "psnr", "ssim"):  # float64 sums added in another order
            assert result.metrics[k] == pytest.approx(single.metrics[k], rel=1e-12)
        assert result.counts == single.counts
        assert result.n_images == 7
        assert result.per_image == single.per_image
        assert result.provenance["data_sha256"] == single.provenance["data_sha256"]
