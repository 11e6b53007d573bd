"""`p2pbench train`: a pix2pix run with the paper's defaults (those of `TrainConfig`)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from p2pbench.cli import checks
from p2pbench.cli.context import default_of
from p2pbench.compute import PRECISIONS
from p2pbench.data.aligned import DIRECTIONS
from p2pbench.data.synthcity.dataset import parse_synthcity_name
from p2pbench.data.transforms import IMAGE_RESIZE
from p2pbench.devices import check_device
from p2pbench.errors import FileAccessError
from p2pbench.train import GAN_MODES, LOSSES, SCHEDULES, TrainConfig, train
from reference_models import DISCRIMINATORS, GENERATORS
from reference_models.generators import DROPOUT_LAYERS
from reference_models.layers import NORMS


def _default(name: str) -> object:
    return default_of(TrainConfig, name)


@click.command("train")
@click.option(
    "--data",
    default=_default("data"),
    show_default=True,
    help="synthcity, cityscapes, or a folder in the aligned A|B format",
)
@click.option(
    "--data-root", default=None, help="dataset root (Cityscapes: else $CITYSCAPES_DATASET)"
)
@click.option(
    "--direction",
    type=click.Choice(DIRECTIONS),
    default=None,
    help="which half of a pair is the input; default BtoA, labels→photo for every dataset "
    "(B holds the labels in synthcity and the pix2pix cityscapes/facades folders); AtoB "
    "for edges2*, maps",
)
@click.option("--n-train", type=int, default=None, help="synthcity: training samples to generate")
@click.option(
    "--data-seed",
    type=int,
    default=_default("data_seed"),
    show_default=True,
    help="synthcity: content seed of the generated training data",
)
@click.option("--size", type=int, default=None, help="image size (default: the generator's)")
@click.option(
    "--gen",
    "generator",
    type=click.Choice(GENERATORS.names()),
    default=_default("generator"),
    show_default=True,
    help="generator from the registry (`p2pbench models`); the number is the image size it "
    "was built for",
)
@click.option(
    "--disc",
    "discriminator",
    type=click.Choice(DISCRIMINATORS.names()),
    default=_default("discriminator"),
    show_default=True,
    help="PatchGAN discriminator from the registry, named by its receptive field in pixels",
)
@click.option(
    "--ngf",
    type=int,
    default=_default("ngf"),
    show_default=True,
    help="generator width: channels of its first layer (≥ 1; the others are multiples)",
)
@click.option(
    "--ndf",
    type=int,
    default=_default("ndf"),
    show_default=True,
    help="discriminator width: channels of its first layer (≥ 1; the others are multiples)",
)
@click.option(
    "--norm",
    type=click.Choice(NORMS),
    default=_default("norm"),
    show_default=True,
    help="normalisation layers of both networks (--sync-bn needs batch)",
)
@click.option(
    "--dropout/--no-dropout",
    default=_default("dropout"),
    show_default=True,
    help="the generator's dropout(0.5) layers (U-Net decoder, ResNet blocks), the paper's noise",
)
@click.option(
    "--dropout-layers",
    type=click.Choice(DROPOUT_LAYERS),
    default=_default("dropout_layers"),
    show_default=True,
    help="U-Net decoder layers 1-3 (paper) or 2-4 (PyTorch port)",
)
@click.option(
    "--bottleneck-norm/--no-bottleneck-norm",
    default=_default("bottleneck_norm"),
    show_default=True,
    help="U-Net / encoder-decoder: the paper-era norm on the 1×1 bottleneck (zeroes it at "
    "batch 1; removed from the Lua code in b479b6b, after the paper's tables were made)",
)
@click.option(
    "--loss",
    type=click.Choice(LOSSES),
    default=_default("loss"),
    show_default=True,
    help="objective: L1 alone, an unconditional (gan) or conditional (cgan) discriminator, "
    "or λ·L1 plus either",
)
@click.option(
    "--gan-mode",
    type=click.Choice(GAN_MODES),
    default=_default("gan_mode"),
    show_default=True,
    help="adversarial loss: vanilla (cross-entropy on logits) or lsgan (least squares)",
)
@click.option(
    "--lambda-l1",
    type=float,
    default=_default("lambda_l1"),
    show_default=True,
    help="weight λ of the L1 term (finite, > 0 with an l1 loss); refused with --loss gan/cgan",
)
@click.option(
    "--lr",
    type=float,
    default=_default("lr"),
    show_default=True,
    help="Adam learning rate of both networks (betas 0.5, 0.999)",
)
@click.option(
    "--schedule",
    type=click.Choice(SCHEDULES),
    default=_default("schedule"),
    show_default=True,
    help="learning rate: constant (paper, Lua) or linear-decay over the last --decay-epochs "
    "(PyTorch port)",
)
@click.option(
    "--epochs",
    type=int,
    default=_default("epochs"),
    show_default=True,
    help="passes over the training set (≥ 1); --max-steps may stop earlier",
)
@click.option(
    "--decay-epochs",
    type=int,
    default=_default("decay_epochs"),
    show_default=True,
    help="linear-decay: epochs at the end over which the rate decays",
)
@click.option("--max-steps", type=int, default=None, help="stop after this many steps")
@click.option(
    "--batch-size",
    type=int,
    default=_default("batch_size"),
    show_default=True,
    help="images per step, the global batch (≥ 1; under torchrun split across the processes)",
)
@click.option(
    "--sync-bn/--no-sync-bn",
    default=_default("sync_bn"),
    show_default=True,
    help="under torchrun: batch-norm statistics over the global batch (SyncBatchNorm, CUDA "
    "only); else each process normalises its own shard of --batch-size",
)
@click.option(
    "--jitter/--no-jitter",
    default=_default("jitter"),
    show_default=True,
    help="random jitter: resize to 286/256 of the size, random crop back, random flip",
)
@click.option(
    "--jitter-resize",
    type=click.Choice(IMAGE_RESIZE),
    default=_default("jitter_resize"),
    show_default=True,
    help="filter of the 286/256 jitter resize (Lua: bilinear)",
)
@click.option(
    "--seed",
    type=int,
    default=_default("seed"),
    show_default=True,
    help="seed (≥ 0) of the weight initialisation, data order, jitter and dropout",
)
@click.option(
    "--device",
    default=_default("device"),
    show_default=True,
    help="cpu, cuda, cuda:N or mps; under torchrun, cuda puts each process on cuda:$LOCAL_RANK",
)
@click.option(
    "--precision",
    type=click.Choice(PRECISIONS),
    default=_default("precision"),
    show_default=True,
    help="bf16: forward passes under bf16 autocast (recorded; fp32 is the reference)",
)
@click.option(
    "--channels-last/--no-channels-last",
    default=_default("channels_last"),
    show_default=True,
    help="the networks' memory format (does not change what is computed)",
)
@click.option(
    "--compile",
    is_flag=True,
    default=_default("compile"),
    help="torch.compile the networks (compiling takes a minute or more before the first step)",
)
@click.option(
    "--workers",
    type=click.IntRange(min=0),
    default=_default("workers"),
    show_default=True,
    help="worker processes that load and jitter the next batches",
)
@click.option(
    "--decode-cache",
    is_flag=True,
    default=_default("decode_cache"),
    help="keep decoded, resized images under $P2PBENCH_HOME/decoded (Cityscapes, folders)",
)
@click.option(
    "--checkpoint-every",
    type=int,
    default=_default("checkpoint_every"),
    show_default=True,
    help="steps between checkpoints (≥ 1); one is also written at the last step",
)
@click.option(
    "--sample-every",
    type=int,
    default=_default("sample_every"),
    show_default=True,
    help="steps between sample grids (input / output / target rows) in --out (≥ 1)",
)
@click.option(
    "--log-every",
    type=int,
    default=_default("log_every"),
    show_default=True,
    help="steps between lines of log.jsonl (≥ 1)",
)
@click.option(
    "--out",
    "run_dir",
    required=True,
    type=click.Path(file_okay=False),
    help="run directory: checkpoint.pt, config.json, log.jsonl, samples/",
)
@click.option("--resume", is_flag=True, help="continue the run in --out from its checkpoint")
@click.option("--quiet", is_flag=True, help="no progress bar")
def train_command(run_dir: str, resume: bool, quiet: bool, **options: object) -> None:
    """Train a pix2pix model (the paper's defaults)."""
    _check_train_options(run_dir, options)
    config = _resumed_config(run_dir, options) if resume else TrainConfig(**options)  # type: ignore[arg-type]
    path = train(config, run_dir, resume=resume, progress=not quiet)
    click.echo(f"checkpoint: {path}")


def _check_train_options(run_dir: str, options: dict[str, object]) -> None:
    """What can be checked before the data is built: device, output folder, options that would
    have no effect."""
    check_device(str(options["device"]))
    checks.output_dir(run_dir, "--out", inputs=(str(options["data"]), options["data_root"]))  # type: ignore[arg-type]
    ctx = click.get_current_context()
    given = {
        k for k in options if ctx.get_parameter_source(k) == click.core.ParameterSource.COMMANDLINE
    }
    if "lambda_l1" in given and not str(options["loss"]).startswith("l1"):
        raise click.UsageError(
            f"--lambda-l1 has no effect with --loss {options['loss']} (no L1 term)"
        )
    if given & {"n_train", "data_seed"} and parse_synthcity_name(str(options["data"])) is None:
        raise click.UsageError(
            "--n-train and --data-seed apply to the built-in synthcity data only"
        )
    if "data_root" in given and options["data"] != "cityscapes":
        raise click.UsageError("--data-root applies to --data cityscapes only")


def _resumed_config(run_dir: str, options: dict[str, object]) -> TrainConfig:
    """The stored run config, with the options given explicitly on the command line applied."""
    stored_path = Path(run_dir) / "config.json"
    if not stored_path.exists():
        raise click.UsageError(f"--resume: {stored_path} not found; is {run_dir} a run directory?")
    try:
        stored = json.loads(stored_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise FileAccessError(f"--resume: cannot read {stored_path}: {e}") from e
    ctx = click.get_current_context()
    given = {
        k: v
        for k, v in options.items()
        if ctx.get_parameter_source(k) == click.core.ParameterSource.COMMANDLINE
    }
    return TrainConfig.from_dict({**stored, **given})


COMMANDS = (train_command,)
