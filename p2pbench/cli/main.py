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
@click.option(
    "--data-seed",
    type=int,
    default=0,
    show_default=True,
    help="synthcity: content seed of the generated training data",
)
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


@main.group("fcn")
def fcn_group() -> None:
    """The FCN-8s segmenters behind FCN-score: convert official weights, train small ones."""


@fcn_group.command("convert")
@click.argument("caffemodel", type=click.Path(dir_okay=False, exists=True))
@click.option(
    "--any-size",
    is_flag=True,
    help="accept a file whose size differs from the official 537,896,724 bytes "
    "(every blob shape is still checked)",
)
def fcn_convert_command(caffemodel: str, any_size: bool) -> None:
    """Convert fcn-8s-cityscapes.caffemodel (no Caffe needed) into p2pbench's cache."""
    from fcn.caffemodel import CaffeModelError, infer_fcn8s_arch, read_caffemodel
    from fcn.fcn8s import OFFICIAL_ARCH
    from fcn.weights import convert_caffemodel

    try:
        # --any-size: a re-saved or narrower FCN-8s; its widths are read off the file
        arch = infer_fcn8s_arch(read_caffemodel(caffemodel)) if any_size else OFFICIAL_ARCH
        path = convert_caffemodel(caffemodel, architecture=arch, check_size=not any_size)
    except CaffeModelError as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"converted {caffemodel} -> {path}")


@fcn_group.command("train")
@click.option(
    "--segmenter",
    default="fcn8s-synthcity64",
    show_default=True,
    help="registered segmenter to train (synthcity only)",
)
@click.option("--steps", type=int, default=None, help="default: the shipped recipe's")
@click.option("--seed", type=int, default=None, help="default: the shipped recipe's")
@click.option("--device", default="cpu", show_default=True)
@click.option("--out", required=True, type=click.Path(dir_okay=False))
@click.option("--quiet", is_flag=True)
def fcn_train_command(
    segmenter: str, steps: int | None, seed: int | None, device: str, out: str, quiet: bool
) -> None:
    """Train a small FCN-8s on synthcity photos (reproduces the shipped weights' recipe)."""
    from p2pbench.base import sha256_file
    from p2pbench.evaluation.segmenters import SYNTHCITY64_RECIPE, train_synthcity_segmenter

    recipe = dict(SYNTHCITY64_RECIPE)
    recipe.update({k: v for k, v in (("steps", steps), ("seed", seed)) if v is not None})
    path = train_synthcity_segmenter(segmenter, recipe, out, device=device, progress=not quiet)
    click.echo(f"{path}  sha256 {sha256_file(path)}")


def _eval_options(command):  # noqa: ANN001, ANN202 - click decorator stack
    options = [
        click.option(
            "--gen",
            "gen",
            type=click.Path(dir_okay=False, exists=True),
            default=None,
            help="generator checkpoint (p2pbench, or the PyTorch port's *_net_G.pth)",
        ),
        click.option(
            "--data",
            default=None,
            help="dataset (synthcity, cityscapes); selects the default protocol",
        ),
        click.option("--protocol", default=None, help="evaluation protocol (default: the data's)"),
        click.option(
            "--task",
            type=click.Choice(["labels2photo", "photo2labels"]),
            default="labels2photo",
            show_default=True,
            help="selects the default protocol with --data",
        ),
        click.option("--data-root", default=None, help="dataset root (Cityscapes)"),
        click.option(
            "--direction",
            type=click.Choice(["AtoB", "BtoA"]),
            default=None,
            help="aligned folders: which half is the input (default AtoB)",
        ),
        click.option("--split", default=None, help="default: the protocol's split"),
        click.option(
            "--limit",
            type=int,
            default=None,
            help="score only the first N images (recorded in the result)",
        ),
        click.option("--batch-size", type=int, default=8, show_default=True),
        click.option("--device", default="cpu", show_default=True),
        click.option(
            "--seed",
            type=int,
            default=0,
            show_default=True,
            help="seeds test-time dropout, per sample id",
        ),
        click.option(
            "--dropout/--no-dropout",
            default=None,
            help="PyTorch-port U-Net files do not record dropout: default on",
        ),
        click.option("--quiet", is_flag=True, help="no progress bar"),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _eval_config(
    source: str, path: str | None, data: str | None, protocol: str | None, **kwargs: object
) -> object:
    import sys
    from pathlib import Path

    from p2pbench.evaluation.loop import EvalConfig
    from p2pbench.protocols import default_protocol

    if protocol is None:
        if data is None:
            raise click.UsageError("give --data (synthcity, cityscapes, or a folder) or --protocol")
        if Path(data).is_dir():  # an aligned A|B folder: paired metrics, no segmenter
            protocol = "aligned"
            kwargs["data_root"] = data
        else:
            protocol = default_protocol(data, str(kwargs["task"]))
    kwargs.pop("task")
    quiet = bool(kwargs.pop("quiet"))
    return EvalConfig(
        protocol=protocol,
        source=source,
        path=path,
        progress=not quiet,
        command=tuple(sys.argv),
        **kwargs,
    )  # type: ignore[arg-type]


@main.command("eval")
@_eval_options
@click.option(
    "--images",
    type=click.Path(file_okay=False),
    default=None,
    help="folder of generated PNGs, one per sample (see `p2pbench generate`)",
)
@click.option("--real", is_flag=True, help="score the real photos: the Ground-truth row")
@click.option("--per-image", is_flag=True, help="also record each image's scores")
@click.option(
    "--allow-missing",
    is_flag=True,
    help="score what --images holds when some are missing (recorded)",
)
@click.option(
    "--naming",
    type=click.Choice(["auto", "sample-id", "original", "port"]),
    default="auto",
    show_default=True,
    help="--images file names: <id>.png, the original script's "
    "<city>_<seq>_<frame>_leftImg8bit.png, or the port's <n>_fake_B.png",
)
@click.option(
    "--allow-partial-split",
    is_flag=True,
    help="score a split with fewer images than the protocol expects (recorded)",
)
@click.option("--segmenter-weights", default=None, help="override the protocol's weights file")
@click.option(
    "--metrics",
    "metric_groups",
    default="fcn,paired,inception",
    show_default=True,
    help="metric groups (those that apply): fcn (FCN-score), paired (L1, PSNR, "
    "SSIM), inception (FID, IS, KID)",
)
@click.option(
    "--fid-mode",
    type=click.Choice(["tf", "pytorch-fid", "clean"]),
    default="tf",
    show_default=True,
    help="FID preprocessing (tf = torch-fidelity, the TF protocol)",
)
@click.option(
    "--inception-weights",
    default=None,
    help="InceptionV3 weights file (else $P2PBENCH_INCEPTION_WEIGHTS, else the torch "
    "hub cache names of torch-fidelity and pytorch-fid)",
)
@click.option(
    "--reference-stats",
    default=None,
    help="real-image statistics (p2pbench stats file or pytorch-fid .npz)",
)
@click.option(
    "--require",
    multiple=True,
    help="metrics that must be computed, e.g. --require fid (else reported unavailable)",
)
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="result JSON file")
@click.option("--json", "as_json", is_flag=True, help="print the result JSON on stdout")
def eval_command(
    gen: str | None,
    images: str | None,
    real: bool,
    out: str | None,
    as_json: bool,
    **kwargs: object,
) -> None:
    """Score a generator, a folder of its outputs, or the real photos with FCN-score."""
    from p2pbench.evaluation.loop import evaluate
    from p2pbench.reporting.text import format_result
    from p2pbench.results import to_json, write_result

    chosen = [name for name, v in (("--gen", gen), ("--images", images), ("--real", real)) if v]
    if len(chosen) != 1:
        raise click.UsageError("give exactly one of --gen CKPT, --images DIR, --real")
    source = {"--gen": "generator", "--images": "images", "--real": "real"}[chosen[0]]
    kwargs["metrics"] = tuple(m.strip() for m in str(kwargs.pop("metric_groups")).split(","))
    kwargs["require"] = tuple(kwargs["require"])  # type: ignore[arg-type]
    config = _eval_config(source, gen or images, **kwargs)
    result = _run(evaluate, config)
    if out:
        write_result(result, out)
    click.echo(to_json(result) if as_json else format_result(result), nl=not as_json)


@main.command("generate")
@_eval_options
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False),
    help="folder for the PNGs (and generate.json)",
)
def generate_command(gen: str | None, out: str, **kwargs: object) -> None:
    """Write a generator's outputs as PNGs named by sample id, as `eval` would score them."""
    from p2pbench.evaluation.generate import generate

    if gen is None:
        raise click.UsageError("--gen CKPT is required")
    config = _eval_config("generator", gen, **kwargs)
    manifest = _run(lambda c: generate(c, out), config)
    click.echo(f"wrote {manifest['n_images']} images to {out}")


def _run(fn, config):  # noqa: ANN001, ANN202
    """Library errors become a clear message and exit status 1 (no traceback)."""
    try:
        return fn(config)
    except (ValueError, FileNotFoundError, KeyError, RuntimeError) as e:
        raise click.ClickException(str(e)) from None


def _register_subcommands() -> None:
    from p2pbench.cli.data import synth_command
    from p2pbench.cli.metrics import fid_command, stats_command
    from p2pbench.cli.reporting import check_command, table_command

    data_group.add_command(synth_command)
    main.add_command(fid_command)
    main.add_command(stats_command)
    main.add_command(table_command)
    main.add_command(check_command)


_register_subcommands()
