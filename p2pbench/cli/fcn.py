"""`p2pbench fcn`: convert the official FCN-8s weights, train the small synthcity ones."""

from __future__ import annotations

import click

from fcn.caffemodel import infer_fcn8s_arch, read_caffemodel
from fcn.fcn8s import OFFICIAL_ARCH
from fcn.weights import convert_caffemodel
from p2pbench.base import sha256_file
from p2pbench.cli import checks
from p2pbench.devices import check_device
from p2pbench.evaluation.segmenters import (
    SEGMENTERS,
    SYNTHCITY64_RECIPE,
    train_synthcity_segmenter,
)


@click.group("fcn")
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
    checks.cache_home("fcn convert")
    # --any-size: a re-saved or narrower FCN-8s; its widths are read off the file
    arch = infer_fcn8s_arch(read_caffemodel(caffemodel)) if any_size else OFFICIAL_ARCH
    path = convert_caffemodel(caffemodel, architecture=arch, check_size=not any_size)
    click.echo(f"converted {caffemodel} -> {path}")


@fcn_group.command("train")
@click.option(
    "--segmenter",
    type=click.Choice([n for n in SEGMENTERS.names() if SEGMENTERS.get(n).shipped_file]),
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
    check_device(device)
    checks.output_file(out, "--out")
    recipe = dict(SYNTHCITY64_RECIPE)
    recipe.update({k: v for k, v in (("steps", steps), ("seed", seed)) if v is not None})
    path = train_synthcity_segmenter(segmenter, recipe, out, device=device, progress=not quiet)
    click.echo(f"{path}  sha256 {sha256_file(path)}")


COMMANDS = (fcn_group,)
