"""Where an ablation's runs execute: here, one after another, or as SLURM jobs via submitit.

`local` (the default) runs every unfinished run in this process (`runner.run_local`); started
under torchrun, each run trains on all the processes with DDP. `slurm` submits one submitit job
per unfinished run, one for the ground truth, and a summary job that starts once they have all
succeeded (`afterok`). A job with several GPUs runs one task per GPU and forms the process group
from SLURM's variables (`submitit.helpers.TorchDistributedEnvironment`). Jobs write into the
same folder, so a failed or cancelled job is simply submitted again by rerunning the command:
finished runs are skipped and an interrupted one resumes from its checkpoint.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from p2pbench.ablation import runner
from p2pbench.distributed import init_from_environment, shutdown
from p2pbench.errors import InvalidValueError
from p2pbench.records import GROUND_TRUTH_VARIANT

LAUNCHERS = ("local", "slurm")


@dataclass(frozen=True)
class SlurmOptions:
    """The job parameters `--launcher slurm` passes to sbatch."""

    partition: str
    gpus: int = 1  # per job; one task per GPU
    time_min: int = 24 * 60
    cpus_per_gpu: int = 8
    mem_gb: int | None = None
    account: str | None = None

    def __post_init__(self) -> None:
        if not self.partition:
            raise InvalidValueError("--launcher slurm needs --slurm-partition")
        if self.gpus < 0 or self.time_min < 1 or self.cpus_per_gpu < 1:
            raise InvalidValueError(
                "--slurm-gpus must be ≥ 0, --slurm-time and --slurm-cpus-per-gpu ≥ 1"
            )

    def parameters(self, name: str) -> dict[str, Any]:
        tasks = max(self.gpus, 1)
        params: dict[str, Any] = {
            "name": name,
            "slurm_partition": self.partition,
            "timeout_min": self.time_min,
            "nodes": 1,
            "tasks_per_node": tasks,
            "cpus_per_task": self.cpus_per_gpu,
        }
        if self.gpus:
            params["gpus_per_node"] = self.gpus
        if self.mem_gb is not None:
            params["mem_gb"] = self.mem_gb
        if self.account is not None:
            params["slurm_account"] = self.account
        return params


def slurm_run(out: str, run_id: str) -> str:
    """A SLURM job's body: join the job's process group if it has several tasks, run one run."""
    device = _device(out)
    owned = _join_job_group(device)
    try:
        return str(runner.run_one(out, run_id, progress=False))
    finally:
        if owned:
            shutdown()


def slurm_ground_truth(out: str) -> str:
    return str(runner.run_ground_truth(out, progress=False, device=_device(out)))


def slurm_summary(out: str) -> str:
    return runner.summarize_folder(out).table


def _device(out: str) -> str:
    manifest = json.loads((Path(out) / runner.MANIFEST).read_text(encoding="utf-8"))
    return str(manifest["options"]["device"])


def _join_job_group(device: str) -> bool:
    if int(os.environ.get("SLURM_NTASKS", "1")) <= 1:
        return False
    import submitit

    submitit.helpers.TorchDistributedEnvironment().export()
    return init_from_environment(device)


@dataclass(frozen=True)
class SubmittedJobs:
    runs: dict[str, str]  # run id → job id
    ground_truth: str | None
    summary: str
    folder: Path


def submit_slurm(out: str | Path, options: SlurmOptions) -> SubmittedJobs:
    """Submit the unfinished runs of the ablation in `out` as SLURM jobs (see module doc)."""
    try:
        import submitit
    except ImportError as e:  # an optional dependency
        raise InvalidValueError(
            "--launcher slurm needs submitit: pip install 'p2pbench[slurm]' (or submitit)"
        ) from e
    out = Path(out).resolve()
    manifest = json.loads((out / runner.MANIFEST).read_text(encoding="utf-8"))
    pending = [
        r["run_id"]
        for r in manifest["runs"]
        if not (out / "runs" / r["run_id"] / runner.RESULT).is_file()
    ]
    folder = out / "slurm"
    executor = submitit.AutoExecutor(folder=folder / "%j", cluster="slurm")
    name = f"p2pbench-{manifest['plan']}"
    executor.update_parameters(**options.parameters(name))
    jobs = {run_id: executor.submit(slurm_run, str(out), run_id) for run_id in pending}
    gt_job = None
    if not (out / GROUND_TRUTH_VARIANT / runner.RESULT).is_file():
        executor.update_parameters(tasks_per_node=1)
        gt_job = executor.submit(slurm_ground_truth, str(out))
    waits = [j.job_id for j in jobs.values()] + ([gt_job.job_id] if gt_job else [])
    executor.update_parameters(
        tasks_per_node=1,
        gpus_per_node=0,
        slurm_additional_parameters={"dependency": "afterok:" + ":".join(waits)} if waits else {},
    )
    summary_job = executor.submit(slurm_summary, str(out))
    return SubmittedJobs(
        {k: j.job_id for k, j in jobs.items()},
        gt_job.job_id if gt_job else None,
        summary_job.job_id,
        folder,
    )
