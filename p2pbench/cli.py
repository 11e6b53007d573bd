"""The `p2pbench` command: a thin click layer over the library.

Each command parses its options, builds a config, calls the library and prints. Progress goes to
stderr; results (tables, or JSON with --json) to stdout.
"""

from __future__ import annotations

import click

from p2pbench import __version__

LOSS_CHOICES = ["l1", "gan", "cgan", "l1+gan", "l1+cgan"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="p2pbench")
def main() -> None:
    """Evaluate and benchmark paired image-to-image translation (pix2pix and descendants)."""


@main.command("models")
def models_command() -> None:
    """List the registered generators and discriminators."""
    from reference_models import DISCRIMINATORS, GENERATORS

    click.echo("generators:")
    for name in GENERATORS:
        entry = GENERATORS.get(name)
        click.echo(f"  {name:<10} {entry.family:<7} built for {entry.size}×{entry.size}")
    click.echo("discriminators:")
    for name in DISCRIMINATORS:
        entry = DISCRIMINATORS.get(name)
        click.echo(
            f"  {name:<10} receptive field {entry.receptive_field}×{entry.receptive_field}, "
            f"images of at least {entry.min_size}×{entry.min_size}"
        )


@main.group("data")
def data_group() -> None:
    """Datasets: generate the built-in synthcity data."""


@main.command("train")
@click.option(
    "--data",
    default="synthcity",
    show_default=True,
    help="synthcity, cityscapes, or a folder in the aligned A|B format",
)
@click.option(
    "--data-root", default=None, help="dataset root (Cityscapes: else $CITYSCAPES_DATASET)"
)
@click.option(
    "--direction",
    type=click.Choice(["AtoB", "BtoA"]),
    default=None,
    help="default: the dataset's labels→photo direction",
)
@click.option("--n-train", type=int, default=None, help="synthcity: training samples to generate")
@click.option("--size", type=int, default=None, help="image size (default: the generator's)")
@click.option("--gen", "generator", default="unet256", show_default=True)
@click.option("--disc", "discriminator", default="patch70", show_default=True)
@click.option("--ngf", type=int, default=64, show_default=True)
@click.option("--ndf", type=int, default=64, show_default=True)
@click.option(
    "--norm", type=click.Choice(["batch", "instance", "none"]), default="batch", show_default=True
)
@click.option("--dropout/--no-dropout", default=True, show_default=True)
@click.option(
    "--dropout-layers",
    type=click.Choice(["paper", "port"]),
    default="paper",
    show_default=True,
    help="U-Net decoder layers 1-3 (paper) or 2-4 (PyTorch port)",
)
@click.option("--loss", type=click.Choice(LOSS_CHOICES), default="l1+cgan", show_default=True)
@click.option(
    "--gan-mode", type=click.Choice(["vanilla", "lsgan"]), default="vanilla", show_default=True
)
@click.option("--lambda-l1", type=float, default=100.0, show_default=True)
@click.option("--lr", type=float, default=2e-4, show_default=True)
@click.option(
    "--schedule",
    type=click.Choice(["constant", "linear-decay"]),
    default="constant",
    show_default=True,
)
@click.option("--epochs", type=int, default=200, show_default=True)
@click.option(
    "--decay-epochs",
    type=int,
    default=0,
    show_default=True,
    help="linear-decay: epochs at the end over which the rate decays",
)
@click.option("--max-steps", type=int, default=None, help="stop after this many steps")
@click.option("--batch-size", type=int, default=1, show_default=True)
@click.option("--jitter/--no-jitter", default=True, show_default=True)
@click.option(
    "--jitter-resize",
    type=click.Choice(["bilinear", "bicubic"]),
    default="bilinear",
    show_default=True,
    help="filter of the 286/256 jitter resize (Lua: bilinear)",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", default="cpu", show_default=True)
@click.option("--checkpoint-every", type=int, default=500, show_default=True)
@click.option("--sample-every", type=int, default=500, show_default=True)
@click.option("--log-every", type=int, default=10, show_default=True)
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
    from p2pbench.train import TrainConfig, train

    config = _resumed_config(run_dir, options) if resume else TrainConfig(**options)
    path = train(config, run_dir, resume=resume, progress=not quiet)
    click.echo(f"checkpoint: {path}")


def _resumed_config(run_dir: str, options: dict[str, object]) -> object:
    """The stored run config, with the options given explicitly on the command line applied."""
    import json
    from pathlib import Path

    from p2pbench.train import TrainConfig

    stored_path = Path(run_dir) / "config.json"
    if not stored_path.exists():
        raise click.UsageError(f"--resume: {stored_path} not found; is {run_dir} a run directory?")
    stored = json.loads(stored_path.read_text(encoding="utf-8"))
    ctx = click.get_current_context()
    given = {
        k: v
        for k, v in options.items()
        if ctx.get_parameter_source(k) == click.core.ParameterSource.COMMANDLINE
    }
    return TrainConfig.from_dict({**stored, **given})


def _register_subcommands() -> None:
    from p2pbench.data.cli_data import synth_command

    data_group.add_command(synth_command)


_register_subcommands()
