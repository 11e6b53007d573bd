"""`p2pbench ablate PLAN` and `p2pbench demo`: the paper's ablations as commands."""

from __future__ import annotations

import time
from pathlib import Path

import click

from p2pbench.ablation import (
    LAUNCHERS,
    PLANS,
    AblationOptions,
    PlannedAblation,
    SlurmOptions,
    estimate,
    format_duration,
    manifest_of,
    plan_runs,
    prepare_folder,
    run_local,
    sample_ids_for,
    submit_slurm,
)
from p2pbench.ablation.runner import RESULT
from p2pbench.cli import checks
from p2pbench.devices import check_device
from p2pbench.distributed import gather_lists, is_main_process, rank_and_world
from p2pbench.records import GROUND_TRUTH_VARIANT
from p2pbench.reporting.html import write_report

SLURM_OPTIONS = (
    "slurm_partition",
    "slurm_gpus",
    "slurm_time",
    "slurm_cpus_per_gpu",
    "slurm_account",
)


def _seeds(value: str) -> tuple[int, ...]:
    try:
        seeds = tuple(int(s) for s in value.split(",") if s.strip() != "")
    except ValueError:
        raise click.BadParameter(
            f"expected comma-separated integers, e.g. 0,1,2; got {value!r}"
        ) from None
    if not seeds:
        raise click.BadParameter("give at least one seed, e.g. 0,1,2")
    return seeds


def _print_plan(planned: PlannedAblation, n_train_of: dict[str, int] | None = None) -> None:
    p = planned.plan
    click.echo(f"plan {p.name}: {p.title}", err=True)
    click.echo(f"  protocol {planned.protocol.key}; {planned.networks}", err=True)
    for run in planned.runs:
        c = run.config
        length = f"{c.max_steps} steps" if c.max_steps is not None else f"{c.epochs} epochs"
        click.echo(
            f"  run {run.run_id}: {c.generator} + {c.discriminator if c.uses_gan else 'no D'}, "
            f"{c.loss}, batch {c.batch_size}, {length}, ngf {c.ngf}, data {c.data}",
            err=True,
        )
    for variant, reason in planned.refused:
        click.echo(f"  refused {variant}: {reason}", err=True)


def run_ablation(
    planned: PlannedAblation,
    out: str,
    *,
    launcher: str,
    slurm: SlurmOptions | None,
    replan: bool,
    dry_run: bool,
    quiet: bool,
) -> Path | None:
    """Print the plan and its estimate, then run it (or submit it); returns the folder.

    Under torchrun only rank 0 prints and writes the manifest; every rank measures the
    estimate and then trains each run together (DDP)."""
    start = time.perf_counter()
    main = is_main_process()
    if main:
        _print_plan(planned)
    if not planned.runs:
        raise click.UsageError("every variant of the plan was refused; nothing to run")
    folder = Path(out)
    pending: list[str] | None = None  # None: every run
    if not dry_run:  # refuse a folder holding another plan before the warm-up, not after
        if main:
            sample_ids = sample_ids_for(
                planned.protocol, planned.options.data_root, planned.options.sample_images
            )
            pending = prepare_folder(folder, manifest_of(planned, sample_ids), replan=replan)
        pending = gather_lists([pending])[0]  # rank 0's
        done = len(planned.runs) - len(pending or ())
        if done and main:
            click.echo(f"{done} of {len(planned.runs)} runs already finished: skipped", err=True)
    gt_done = (folder / GROUND_TRUTH_VARIANT / RESULT).is_file()
    if pending == [] and gt_done:
        if main:
            click.echo("every run is finished: only the summary is written", err=True)
    else:  # every rank measures (the warm-up may meet collectives), rank 0 speaks
        if main:
            click.echo("measuring a short warm-up for the time estimate ...", err=True)
        guess = estimate(planned, pending, ground_truth=not gt_done)
        if main:
            click.echo(
                f"estimated wall time: {guess.describe()} ({guess.total_steps} training "
                f"steps, {guess.scored_images} images scored)",
                err=True,
            )
    if dry_run:
        return None
    if launcher == "slurm":
        assert slurm is not None  # refused under torchrun by the command
        jobs = submit_slurm(folder, slurm)
        for run_id, job in jobs.runs.items():
            click.echo(f"submitted {run_id}: job {job}")
        if jobs.ground_truth:
            click.echo(f"submitted ground truth: job {jobs.ground_truth}")
        click.echo(
            f"submitted summary: job {jobs.summary} (after the others); logs in {jobs.folder}"
        )
        return folder

    def on_run(run_id: str, i: int, n: int) -> None:
        if not quiet and main:
            click.echo(f"[{i}/{n}] {run_id}", err=True)

    summary = run_local(folder, progress=not quiet, on_run=on_run)
    if main:
        click.echo(summary.table)
        click.echo(
            f"wall time {format_duration(time.perf_counter() - start)}; results in {folder}",
            err=True,
        )
    return folder


@click.command("ablate")
@click.argument("plan", type=click.Choice(PLANS.names()), metavar="PLAN")
@click.option(
    "--data",
    default="synthcity",
    show_default=True,
    help="synthcity, cityscapes or an aligned folder",
)
@click.option("--data-root", default=None, help="Cityscapes root (else $CITYSCAPES_DATASET)")
@click.option("--protocol", default=None, help="default: the data's protocol for the plan's task")
@click.option("--size", type=int, default=None, help="default: the protocol's image size")
@click.option("--steps", type=int, default=None, help="training steps per run")
@click.option("--epochs", type=int, default=None, help="epochs per run (default 200, the paper's)")
@click.option("--seeds", default="0", show_default=True, help="comma-separated training seeds")
@click.option("--batch-size", type=int, default=None, help="default: the paper's for the table")
@click.option(
    "--ngf",
    type=int,
    default=64,
    show_default=True,
    help="generator width of every run: channels of its first layer",
)
@click.option(
    "--ndf",
    type=int,
    default=64,
    show_default=True,
    help="discriminator width of every run: channels of its first layer",
)
@click.option("--n-train", type=int, default=None, help="synthcity: training scenes")
@click.option(
    "--paper-networks/--current-networks",
    default=False,
    show_default=True,
    help="the networks behind the paper's tables: a norm on the 1×1 bottleneck (zeroes it "
    "at batch 1; removed from the Lua code in b479b6b after the tables were made)",
)
@click.option(
    "--device",
    default="cpu",
    show_default=True,
    help="cpu, cuda, cuda:N or mps for training and scoring; under torchrun, cuda puts each "
    "process on cuda:$LOCAL_RANK",
)
@click.option("--out", required=True, type=click.Path(file_okay=True), help="ablation folder")
@click.option(
    "--replan",
    is_flag=True,
    help="replace a different plan in --out (keeps unchanged finished runs)",
)
@click.option("--dry-run", is_flag=True, help="print the plan and the estimate; run nothing")
@click.option(
    "--launcher",
    type=click.Choice(LAUNCHERS),
    default="local",
    show_default=True,
    help="local: the runs one after another here; slurm: one submitit job per run, one for "
    "the ground truth and a summary job after them (needs --slurm-partition)",
)
@click.option(
    "--slurm-partition",
    default=None,
    help="SLURM partition to submit to (required with --launcher slurm, refused without it)",
)
@click.option("--slurm-gpus", type=int, default=1, show_default=True, help="GPUs per run")
@click.option("--slurm-time", type=int, default=24 * 60, show_default=True, help="minutes per job")
@click.option(
    "--slurm-cpus-per-gpu",
    type=int,
    default=8,
    show_default=True,
    help="CPUs of each task, one task per GPU (≥ 1)",
)
@click.option("--slurm-account", default=None, help="SLURM account to charge (default: none)")
@click.option("--quiet", is_flag=True, help="no progress bars or per-run lines on stderr")
def ablate_command(
    plan: str,
    data: str,
    data_root: str | None,
    protocol: str | None,
    size: int | None,
    steps: int | None,
    epochs: int | None,
    seeds: str,
    batch_size: int | None,
    ngf: int,
    ndf: int,
    n_train: int | None,
    paper_networks: bool,
    device: str,
    out: str,
    replan: bool,
    dry_run: bool,
    launcher: str,
    slurm_partition: str | None,
    slurm_gpus: int,
    slurm_time: int,
    slurm_cpus_per_gpu: int,
    slurm_account: str | None,
    quiet: bool,
) -> None:
    """Run one of the paper's ablations (PLAN), each variant × seed, scored, with a summary.

    \b
    receptive-field  Table 3: 1×1, 16×16, 70×70, 286×286 PatchGAN (L1+cGAN)
    loss             Table 1: L1, GAN, cGAN, L1+GAN, L1+cGAN
    generator        Table 2: encoder-decoder vs U-Net × L1, L1+cGAN (batch 10)
    photo2labels     Table 6: L1, cGAN, L1+cGAN, photo → labels

    Prints the plan, refuses variants that cannot work at the size, estimates the wall time
    from a short warm-up, then trains and scores every run into --out (resumable: rerun the
    command to continue). The table has mean ± std over seeds, 95% t-intervals, and a paired
    bootstrap of each variant against the reference.
    """
    check_device(device)
    if launcher == "slurm" and not slurm_partition:
        raise click.UsageError("--launcher slurm needs --slurm-partition")
    for name in ("slurm_partition", "slurm_gpus", "slurm_time", "slurm_cpus_per_gpu"):
        checks.check_applies(name, launcher == "slurm", "it applies to --launcher slurm only")
    checks.check_applies(
        "slurm_account", launcher == "slurm", "it applies to --launcher slurm only"
    )
    if launcher == "slurm" and rank_and_world()[1] > 1:
        raise click.UsageError(
            "--launcher slurm submits jobs that start their own processes: run it once, not "
            "under torchrun (--slurm-gpus sets the processes of each run)"
        )
    if not dry_run:
        checks.output_dir(out, "--out", inputs=(data, data_root))
    options = AblationOptions(
        data=data,
        data_root=data_root,
        protocol=protocol,
        size=size,
        steps=steps,
        epochs=epochs,
        seeds=_seeds(seeds),
        batch_size=batch_size,
        ngf=ngf,
        ndf=ndf,
        n_train=n_train,
        paper_networks=paper_networks,
        device=device,
    )
    slurm = (
        SlurmOptions(
            slurm_partition or "",
            gpus=slurm_gpus,
            time_min=slurm_time,
            cpus_per_gpu=slurm_cpus_per_gpu,
            account=slurm_account,
        )
        if launcher == "slurm"
        else None
    )
    planned = plan_runs(PLANS.get(plan), options)
    run_ablation(
        planned, out, launcher=launcher, slurm=slurm, replan=replan, dry_run=dry_run, quiet=quiet
    )


@click.command("demo")
@click.option(
    "--out",
    default="runs/demo",
    show_default=True,
    type=click.Path(),
    help="ablation folder: one folder per run, plan.json, summary.json, table.md, report.html",
)
@click.option("--steps", type=int, default=800, show_default=True, help="training steps per run")
@click.option("--seeds", default="0,1", show_default=True, help="comma-separated training seeds")
@click.option("--ngf", type=int, default=16, show_default=True, help="generator and D width")
@click.option("--replan", is_flag=True, help="replace a different plan in --out")
@click.option("--quiet", is_flag=True, help="no progress bars or per-run lines on stderr")
def demo_command(out: str, steps: int, seeds: str, ngf: int, replan: bool, quiet: bool) -> None:
    """The main job on the built-in data: Table 3 (receptive field) on synthcity@v2, 128 px.

    Trains 1×1, 16×16, 70×70 and 286×286 PatchGAN variants for each seed, scores them with the
    shipped segmenter, prints the table with intervals, and writes an HTML report.
    """
    start = time.perf_counter()
    checks.output_dir(out, "--out")
    options = AblationOptions(
        data="synthcity",
        protocol="synthcity@v2",
        steps=steps,
        seeds=_seeds(seeds),
        ngf=ngf,
        ndf=ngf,
        checkpoint_every=max(steps // 4, 1),
    )
    planned = plan_runs(PLANS.get("receptive-field"), options)
    folder = run_ablation(
        planned, out, launcher="local", slurm=None, replan=replan, dry_run=False, quiet=quiet
    )
    assert folder is not None
    report = write_report(folder, folder / "report.html", overwrite=True)
    click.echo(f"report: {report}")
    click.echo(f"demo wall time: {format_duration(time.perf_counter() - start)}")


COMMANDS = (ablate_command, demo_command)
