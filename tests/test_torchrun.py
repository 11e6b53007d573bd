"""The command line under torchrun: N processes give one process's numbers, one result file,
one printed report; a rank that fails takes the others down instead of leaving them hanging."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from p2pbench.evaluation import GeneratorFile, evaluate, generate
from p2pbench.evaluation.spec import EncoderSpec, RunSpec, ScoreSpec
from p2pbench.results import Result, read_result
from reference_models import GeneratorConfig, build_generator, save_generator

LIMIT = 37
INCEPTION_LIMIT = 13  # InceptionV3 at 299×299 on a CPU: a few images suffice
FCN_KEYS = ("per_pixel_acc", "per_class_acc", "class_iou", "per_class")
PAIRED_KEYS = ("l1", "psnr", "ssim")
SUBPROCESS_TIMEOUT_S = 300


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained unet64 (4 filters) in p2pbench's checkpoint format."""
    path = tmp_path_factory.mktemp("ckpt") / "g.pt"
    save_generator(path, build_generator("unet64", seed=3, ngf=4), "unet64", GeneratorConfig(ngf=4))
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def torchrun(
    n: int, *args: str, home: Path, script: Path | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """`torchrun --nproc_per_node=n -m p2pbench ARGS` (or `SCRIPT ARGS`), captured."""
    target = [str(script)] if script is not None else ["-m", "p2pbench"]
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        f"--nproc_per_node={n}",
        f"--master_port={free_port()}",
        *target,
        *args,
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "P2PBENCH_HOME": str(home)}
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)


def single_run(
    checkpoint: Path,
    metrics: tuple[str, ...],
    *,
    limit: int = LIMIT,
    batch_size: int = RunSpec.batch_size,
    encoder: EncoderSpec = EncoderSpec(),
) -> Result:
    return evaluate(
        GeneratorFile(str(checkpoint)),
        protocol="synthcity@v1",
        score=ScoreSpec(limit=limit, metrics=metrics),
        run=RunSpec(batch_size=batch_size, progress=False),
        encoder=encoder,
    )


def eval_args(
    checkpoint: Path, out: Path, metrics: str, *extra: str, limit: int = LIMIT
) -> list[str]:
    return [
        "eval",
        "--gen",
        str(checkpoint),
        "--data",
        "synthcity@v1",
        "--limit",
        str(limit),
        "--metrics",
        metrics,
        "--quiet",
        "--out",
        str(out),
        *extra,
    ]


@pytest.mark.slow
@pytest.mark.parametrize("n", [2, 3])
def test_eval_on_n_processes_equals_one(tiny_checkpoint: Path, tmp_path: Path, n: int) -> None:
    single = single_run(tiny_checkpoint, ("fcn", "paired"))
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "result.json"
    started = time.monotonic()
    proc = torchrun(n, *eval_args(tiny_checkpoint, out, "fcn,paired"), home=tmp_path / "home")
    assert proc.returncode == 0, proc.stderr[-3000:]
    print(f"torchrun eval, {n} processes: {time.monotonic() - started:.1f} s")
    assert sorted(p.name for p in out_dir.iterdir()) == ["result.json"]  # one file, no leftovers
    assert proc.stdout.count("Per-pixel acc.") == 1  # rank 0 alone prints the report
    result = read_result(out)
    assert result.provenance["world_size"] == n
    assert result.n_images == LIMIT
    assert {k: result.metrics[k] for k in FCN_KEYS} == {k: single.metrics[k] for k in FCN_KEYS}
    for k in PAIRED_KEYS:  # float64 sums added in another order
        assert result.metrics[k] == pytest.approx(single.metrics[k], rel=1e-12), k
    assert result.counts == single.counts
    assert result.provenance["data_sha256"] == single.provenance["data_sha256"]


@pytest.mark.slow
def test_inception_metrics_on_two_processes_equal_one(
    tiny_checkpoint: Path,
    inception_weights_file: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Same batches and threads on both sides: InceptionV3's float32 features depend in their
    last bits on which images share a batch and on the number of CPU threads (IS 1.0466106 with
    batches of 1, 1.0466103 with batches of 12; 1.0466109 on one thread), and shards change the
    batches. With batches of one image on one thread (as torchrun's workers run), the features
    do not depend on the split, and what is left to compare is the reduction across processes."""
    monkeypatch.setenv("P2PBENCH_HOME", str(tmp_path / "home1"))  # real statistics: this pass
    weights = str(inception_weights_file)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        single = single_run(
            tiny_checkpoint,
            ("inception",),
            limit=INCEPTION_LIMIT,
            batch_size=1,
            encoder=EncoderSpec(inception_weights=weights),
        )
    finally:
        torch.set_num_threads(threads)
    assert single.metrics["fid"] > 0
    out = tmp_path / "result.json"
    args = eval_args(
        tiny_checkpoint,
        out,
        "inception",
        "--inception-weights",
        weights,
        "--batch-size",
        "1",
        limit=INCEPTION_LIMIT,
    )
    proc = torchrun(2, *args, home=tmp_path / "home2")
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = read_result(out)
    assert result.provenance["world_size"] == 2
    for k in ("is_mean", "is_std", "kid_mean", "kid_std"):
        assert result.metrics[k] == single.metrics[k], k
    assert result.metrics["fid"] == pytest.approx(single.metrics["fid"], rel=1e-12)


@pytest.mark.slow
def test_generate_on_two_processes_writes_the_same_pngs(
    tiny_checkpoint: Path, tmp_path: Path
) -> None:
    generate(
        str(tiny_checkpoint),
        tmp_path / "one",
        protocol="synthcity@v1",
        limit=9,
        run=RunSpec(progress=False),
    )
    args = ["generate", "--gen", str(tiny_checkpoint), "--data", "synthcity@v1", "--limit", "9"]
    proc = torchrun(2, *args, "--quiet", "--out", str(tmp_path / "two"), home=tmp_path / "home")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("wrote 9 images") == 1
    one = {p.name: p.read_bytes() for p in (tmp_path / "one").glob("*.png")}
    two = {p.name: p.read_bytes() for p in (tmp_path / "two").glob("*.png")}
    assert len(one) == 9 and one == two  # byte-identical
    assert (tmp_path / "two" / "generate.json").is_file()


FAILING_RANK = """\
import json
import os
import sys

import p2pbench.evaluation.loop as loop
from p2pbench.cli import main

if os.environ["RANK"] == "1":

    def fail(*args, **kwargs):
        raise OSError("rank 1 lost its disk")

    loop.run_loop = fail
sys.argv[0] = "p2pbench"
main()
"""


@pytest.mark.slow
def test_a_failing_rank_stops_every_rank(tiny_checkpoint: Path, tmp_path: Path) -> None:
    """Rank 0 would wait for rank 1 in a collective: it must stop too, and soon."""
    script = tmp_path / "failing_rank.py"
    script.write_text(FAILING_RANK)
    out = tmp_path / "result.json"
    started = time.monotonic()
    proc = torchrun(
        2, *eval_args(tiny_checkpoint, out, "fcn"), home=tmp_path / "home", script=script
    )
    elapsed = time.monotonic() - started
    assert proc.returncode != 0
    assert "rank 1 lost its disk" in proc.stderr
    assert not out.exists()
    assert elapsed < 120, f"took {elapsed:.0f} s: a rank waited for the failed one"


ABLATE = ["ablate", "receptive-field", "--data", "synthcity@v1", "--steps", "2", "--ngf", "4",
          "--ndf", "4", "--n-train", "8", "--seeds", "0"]  # fmt: skip


@pytest.mark.slow
def test_ablate_on_two_processes_speaks_and_writes_once(tmp_path: Path) -> None:
    """Only rank 0 prints the plan, the estimate and the table and writes the manifest; every
    run and the ground truth finish. A global batch smaller than the processes is refused
    before any work, with the remedy."""
    out = tmp_path / "rf"
    proc = torchrun(2, *ABLATE, "--batch-size", "2", "--out", str(out), home=tmp_path / "home")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stderr.count("plan receptive-field") == 1
    assert proc.stderr.count("estimated wall time") == 1
    assert proc.stdout.count("Ground truth") == 1  # the summary table, once
    manifest = json.loads((out / "plan.json").read_text())
    for run in manifest["runs"]:
        assert (out / "runs" / run["run_id"] / "result.json").is_file()
    refused = torchrun(
        2, *ABLATE, "--batch-size", "1", "--out", str(tmp_path / "b1"), home=tmp_path / "home"
    )
    assert refused.returncode != 0 and "use --batch-size 2" in refused.stderr
    assert not (tmp_path / "b1").exists()
