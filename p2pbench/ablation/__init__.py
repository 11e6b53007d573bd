"""The paper's ablations as commands: plans (`plans`), a time estimate from a warm-up
(`estimate`), a resumable runner writing one folder per ablation (`runner`), and where the
runs execute (`launchers`: here, or SLURM through submitit)."""

from p2pbench.ablation.estimate import Estimate, estimate, format_duration, run_steps
from p2pbench.ablation.launchers import LAUNCHERS, SlurmOptions, SubmittedJobs, submit_slurm
from p2pbench.ablation.plans import (
    PLANS,
    AblationOptions,
    Plan,
    PlannedAblation,
    PlannedRun,
    Variant,
    plan_runs,
)
from p2pbench.ablation.runner import (
    PlanChangedError,
    manifest_of,
    prepare_folder,
    run_ground_truth,
    run_local,
    run_one,
    sample_ids_for,
    summarize_folder,
)

__all__ = [
    "LAUNCHERS",
    "PLANS",
    "AblationOptions",
    "Estimate",
    "Plan",
    "PlanChangedError",
    "PlannedAblation",
    "PlannedRun",
    "SlurmOptions",
    "SubmittedJobs",
    "Variant",
    "estimate",
    "format_duration",
    "manifest_of",
    "plan_runs",
    "prepare_folder",
    "run_ground_truth",
    "run_local",
    "run_one",
    "run_steps",
    "sample_ids_for",
    "submit_slurm",
    "summarize_folder",
]
