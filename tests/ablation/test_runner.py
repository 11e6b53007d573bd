"""The ablation runner: one folder per ablation, resumable, kill-safe, and its SLURM launcher.

Runs use synthcity@v1 (64 px, shipped segmenter) and 4-channel networks for a few steps: the
numbers are meaningless, the mechanics are what is tested.
"""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from p2pbench.ablation import (
    PLANS,
    AblationOptions,
    PlanChangedError,
    SlurmOptions,
    manifest_of,
    plan_runs,
    prepare_folder,
    run_local,
    run_one,
    sample_ids_for,
    submit_slurm,
)
from p2pbench.base import sha256_file
from p2pbench.evaluation.datasets import protocol_dataset
from p2pbench.evaluation.label_maps import predict_classes
from p2pbench.evaluation.segmenters import load_segmenter
from p2pbench.metrics.fcn_score import confusion_update
from p2pbench.protocols import get_protocol
from p2pbench.results import read_result

pytestmark = pytest.mark.slow

OPTIONS = dict(protocol="synthcity@v1", steps=2, ngf=4, ndf=4, sample_images=2, n_train=8)


def _prepare(out: Path, *, replan: bool = False, **changes: object) -> list[str]:
    planned = plan_runs(PLANS.get("receptive-field"), AblationOptions(**{**OPTIONS, **changes}))
    ids = sample_ids_for(planned.protocol, None, planned.options.sample_images)
    return prepare_folder(out, manifest_of(planned, ids), replan=replan)


@pytest.fixture(scope="module")
def ablation(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ablation") / "rf"
    _prepare(out)
    run_local(out, progress=False)
    return out


def test_the_folder_holds_the_manifest_every_run_the_ground_truth_and_a_summary(
    ablation: Path,
) -> None:
    manifest = json.loads((ablation / "plan.json").read_text())
    assert manifest["format"] == "p2pbench-ablation" and manifest["protocol"] == "synthcity@v1"
    assert [r["run_id"] for r in manifest["runs"]] == [
        "patch1-seed0",
        "patch16-seed0",
        "patch70-seed0",
    ]
    assert manifest["refused"][0]["variant"] == "patch286"
    summary = json.loads((ablation / "summary.json").read_text())
    assert [row["variant"] for row in summary["rows"]] == ["patch1", "patch16", "patch70"]
    assert summary["ground_truth"] is not None and not summary["missing_runs"]
    assert "70×70" in (ablation / "table.md").read_text()
    for run in manifest["runs"]:
        result = read_result(ablation / "runs" / run["run_id"] / "result.json")
        assert result.extra["run_id"] == run["run_id"] and result.extra["seed"] == 0
        assert result.ablation is not None and result.ablation.checkpoint_sha256 == sha256_file(
            ablation / "runs" / run["run_id"] / "checkpoint.pt"
        )
        assert len(result.per_image) == 100 and "confusion" in result.per_image[0]
    gt = read_result(ablation / "ground-truth" / "result.json")
    assert gt.source["kind"] == "real" and len(gt.samples or ()) == 2


def test_saved_outputs_are_the_images_that_were_scored(ablation: Path) -> None:
    protocol = get_protocol("synthcity@v1")
    segmenter = load_segmenter(protocol.segmenter)
    result = read_result(ablation / "runs" / "patch16-seed0" / "result.json")
    per_image = {e["sample_id"]: e for e in result.per_image}
    gt = read_result(ablation / "ground-truth" / "result.json")
    lut = torch.full((256,), 255, dtype=torch.int64)
    lut[list(protocol.class_train_ids)] = torch.arange(protocol.num_classes)
    data = protocol_dataset(protocol, None, None)
    index = {sid: i for i, sid in enumerate(data.sample_ids)}
    for entry in result.samples or ():
        path = ablation / "runs" / "patch16-seed0" / entry.files["output"].path
        assert sha256_file(path) == entry.files["output"].sha256
        image = torch.from_numpy(np.asarray(Image.open(path))).permute(2, 0, 1)[None]
        label = lut[data[index[entry.sample_id]].label][None]
        pred = predict_classes(segmenter, image, protocol, tuple(label.shape[-2:]))
        hist, _ = confusion_update(pred, label, protocol.num_classes, protocol.extra_channel)
        assert hist.tolist() == per_image[entry.sample_id]["confusion"]
    assert [s.sample_id for s in gt.samples or ()] == [s.sample_id for s in result.samples or ()]


def test_rerunning_skips_finished_runs(ablation: Path) -> None:
    results = sorted((ablation / "runs").glob("*/result.json"))
    before = {p: p.stat().st_mtime_ns for p in results}
    checkpoints = {p: p.stat().st_mtime_ns for p in (ablation / "runs").glob("*/checkpoint.pt")}
    assert _prepare(ablation) == []  # same plan: nothing pending
    run_local(ablation, progress=False)
    assert {p: p.stat().st_mtime_ns for p in results} == before
    assert {p: p.stat().st_mtime_ns for p in checkpoints} == checkpoints


def test_a_changed_plan_is_refused_unless_asked(ablation: Path, tmp_path: Path) -> None:
    with pytest.raises(PlanChangedError, match="options, runs"):
        _prepare(ablation, steps=3)
    copy = tmp_path / "copy"
    subprocess.run(["cp", "-r", str(ablation), str(copy)], check=True)
    pending = _prepare(copy, steps=3, replan=True)  # every run's config changes
    assert pending == ["patch1-seed0", "patch16-seed0", "patch70-seed0"]
    assert not (copy / "runs" / "patch1-seed0").exists()  # changed runs are removed
    assert (copy / "ground-truth" / "result.json").is_file()  # same protocol: kept


def test_a_run_killed_mid_training_resumes_to_the_uninterrupted_result(tmp_path: Path) -> None:
    options = {"steps": 40, "checkpoint_every": 4}
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    _prepare(killed, **options)
    _prepare(clean, **options)
    script = (  # the thread count of this process: the same float sums as the clean run
        f"import torch; torch.set_num_threads({torch.get_num_threads()})\n"
        "from p2pbench.ablation import run_one\n"
        f"run_one({str(killed)!r}, 'patch16-seed0', progress=False)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script])
    checkpoint = killed / "runs" / "patch16-seed0" / "checkpoint.pt"
    deadline = time.monotonic() + 300
    while not checkpoint.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    run_dir = killed / "runs" / "patch16-seed0"
    assert not (run_dir / "result.json").exists()
    assert not list(run_dir.glob("outputs/*.png"))
    step = torch.load(checkpoint, weights_only=True)["step"]
    assert 0 < step < 40
    resumed = read_result(run_one(killed, "patch16-seed0", progress=False))
    uninterrupted = read_result(run_one(clean, "patch16-seed0", progress=False))
    assert resumed.metrics == uninterrupted.metrics
    assert resumed.source["sha256"] == uninterrupted.source["sha256"]  # same weights


STAND_INS = {
    "sbatch": """#!/usr/bin/env bash
n=$(cat "$STANDIN_DIR/count" 2>/dev/null || echo 100); n=$((n+1)); echo $n > "$STANDIN_DIR/count"
cp "${@: -1}" "$STANDIN_DIR/job$n.sh"; echo "$@" > "$STANDIN_DIR/args$n"
echo "Submitted batch job $n"
""",
    "squeue": "#!/usr/bin/env bash\nexit 0\n",
    "sacct": "#!/usr/bin/env bash\nexit 0\n",
    "scancel": "#!/usr/bin/env bash\nexit 0\n",
    "srun": "#!/usr/bin/env bash\nexit 0\n",  # submitit checks that it exists
}


def test_slurm_jobs_carry_the_options_and_run_like_the_local_launcher(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir, record = tmp_path / "bin", tmp_path / "record"
    bin_dir.mkdir()
    record.mkdir()
    for name, text in STAND_INS.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("STANDIN_DIR", str(record))
    out, local = tmp_path / "slurm-ablation", tmp_path / "local-ablation"
    _prepare(out)
    jobs = submit_slurm(out, SlurmOptions("gpuq", gpus=2, time_min=30, cpus_per_gpu=4))
    assert set(jobs.runs) == {"patch1-seed0", "patch16-seed0", "patch70-seed0"}
    scripts = {int(p.stem[3:]): p.read_text() for p in record.glob("job*.sh")}
    assert len(scripts) == 5  # three runs, the ground truth, the summary
    first = scripts[min(scripts)]
    for line in ("--partition=gpuq", "--gpus-per-node=2", "--time=30", "--ntasks-per-node=2"):
        assert f"#SBATCH {line}" in first, line
    summary_script = scripts[max(scripts)]
    waits = ":".join(str(j) for j in sorted(scripts)[:-1])
    assert f"--dependency=afterok:{waits}" in summary_script
    # the pickled job of patch16, run directly, gives the in-process launcher's result
    job_id = jobs.runs["patch16-seed0"]
    with open(jobs.folder / job_id / f"{job_id}_submitted.pkl", "rb") as f:
        delayed = pickle.load(f)
    path = delayed.function(*delayed.args, **delayed.kwargs)
    _prepare(local)
    direct = read_result(Path(path))
    in_process = read_result(run_one(local, "patch16-seed0", progress=False))
    assert direct.metrics == in_process.metrics
