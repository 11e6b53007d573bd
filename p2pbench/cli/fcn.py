"""`p2pbench fcn`: convert the official FCN-8s weights, train small ones (synthcity's shipped
recipes, or a segmenter for your own data that defines FCN-score on it)."""

from __future__ import annotations

import shlex
from pathlib import Path

import click
from click.core import ParameterSource

from fcn.caffemodel import infer_fcn8s_arch, read_caffemodel
from fcn.fcn8s import OFFICIAL_ARCH
from fcn.weights import convert_caffemodel
from p2pbench.base import sha256_file
from p2pbench.cli import checks
from p2pbench.data.colour_labels import SIDES, read_class_table
from p2pbench.devices import check_device
from p2pbench.evaluation.segmenters import SEGMENTERS
from p2pbench.train.segmenter_data import (
    CITYSCAPES_OUTPUTS,
    CITYSCAPES_SIZE,
    RECIPES,
    USER_DEFAULTS,
    aligned_segmentation_data,
    check_size,
    check_training_options,
    cityscapes_segmentation_data,
    is_cityscapes_root,
    train_synthcity_segmenter,
    train_user_segmenter,
    user_arch,
)

DEFAULT_SEGMENTER = "fcn8s-synthcity128"
"""What `fcn train` replays when neither --segmenter nor --data is given."""


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


def _given(name: str) -> bool:
    """Whether the user typed option `name` (not its default)."""
    source = click.get_current_context().get_parameter_source(name)
    return source in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)


def _refuse(names: tuple[str, ...], why: str) -> None:
    """Options that have no effect here are errors, never silently ignored."""
    for name in names:
        if _given(name):
            raise click.UsageError(f"--{name.replace('_', '-')} has no effect: {why}")


def _channels(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise click.BadParameter(
            f"expected six comma-separated integers (five VGG block widths and fc6/fc7), e.g. "
            f"8,16,32,64,64,128; found {text!r}",
            param_hint="--channels",
        ) from None


@fcn_group.command("train")
@click.option(
    "--segmenter",
    type=click.Choice([n for n in SEGMENTERS.names() if SEGMENTERS.get(n).shipped_file]),
    default=None,
    show_default=f"{DEFAULT_SEGMENTER} without --data",
    help="registered synthcity segmenter whose shipped recipe to replay",
)
@click.option(
    "--data",
    default=None,
    help="your data: an aligned A|B folder (with --classes), a Cityscapes root (leftImg8bit/ "
    "and gtFine/), or 'cityscapes' (with --data-root or $CITYSCAPES_DATASET)",
)
@click.option("--data-root", default=None, help="Cityscapes root for --data cityscapes")
@click.option(
    "--classes",
    type=click.Path(dir_okay=False),
    default=None,
    help='aligned folders: JSON class table {"classes": [{"name": ..., "color": [R, G, B]'
    '[, "train_id": N]}, ...]}; the label side is decoded by exact colour match',
)
@click.option("--split", default="train", show_default=True, help="split to train on")
@click.option(
    "--labels-side",
    type=click.Choice(SIDES),
    default=None,
    help="aligned folders: the half holding the colour label maps [default: B]",
)
@click.option(
    "--size",
    type=int,
    default=None,
    help="training size, a multiple of 8 ≥ 32 [default: the pairs' height for an aligned "
    f"folder, {CITYSCAPES_SIZE} for Cityscapes]",
)
@click.option(
    "--width-divisor",
    type=int,
    default=None,
    help="FCN-8s widths: the official ones divided by this [default: 8]",
)
@click.option(
    "--channels",
    default=None,
    help="FCN-8s widths instead: five VGG blocks and fc6/fc7, e.g. 8,16,32,64,64,128",
)
@click.option(
    "--steps",
    type=int,
    default=None,
    help=f"default: the shipped recipe's; {USER_DEFAULTS['steps']} with --data",
)
@click.option(
    "--batch-size", type=int, default=None, help=f"--data [default: {USER_DEFAULTS['batch_size']}]"
)
@click.option("--lr", type=float, default=None, help=f"--data [default: {USER_DEFAULTS['lr']}]")
@click.option(
    "--seed",
    type=int,
    default=None,
    help=f"default: the shipped recipe's; {USER_DEFAULTS['seed']} with --data",
)
@click.option("--device", default="cpu", show_default=True)
@click.option("--out", required=True, type=click.Path(dir_okay=False))
@click.option("--quiet", is_flag=True)
def fcn_train_command(
    segmenter: str | None,
    data: str | None,
    data_root: str | None,
    classes: str | None,
    split: str,
    labels_side: str | None,
    size: int | None,
    width_divisor: int | None,
    channels: str | None,
    steps: int | None,
    batch_size: int | None,
    lr: float | None,
    seed: int | None,
    device: str,
    out: str,
    quiet: bool,
) -> None:
    """Train a small FCN-8s: replay a shipped synthcity recipe, or train on your own data.

    \b
    p2pbench fcn train --data DIR --classes classes.json --out w.pt   aligned A|B folder
    p2pbench fcn train --data CITYSCAPES_ROOT --out w.pt              Cityscapes layout
    p2pbench fcn train --segmenter fcn8s-synthcity64 --out w.pt       a shipped recipe

    Weights trained on your data record their class table and a hash of the training files;
    `p2pbench eval --data DIR --segmenter-weights w.pt` then scores FCN-score on DIR.
    """
    check_device(device)
    if data is None:
        _refuse(
            (
                "data_root",
                "classes",
                "split",
                "labels_side",
                "size",
                "width_divisor",
                "channels",
                "batch_size",
                "lr",
            ),
            "it applies to --data; --segmenter replays a shipped recipe",
        )
        checks.output_file(out, "--out")
        name = segmenter or DEFAULT_SEGMENTER
        recipe = dict(RECIPES[name])
        recipe.update({k: v for k, v in (("steps", steps), ("seed", seed)) if v is not None})
        path = train_synthcity_segmenter(
            name, SEGMENTERS.get(name).arch, recipe, out, device=device, progress=not quiet
        )
        click.echo(f"{path}  sha256 {sha256_file(path)}")
        return
    if segmenter is not None:
        raise click.UsageError(
            "--segmenter replays a shipped synthcity recipe and --data trains on your data; "
            "give one of them"
        )
    arch_widths = _channels(channels)
    if width_divisor is not None and arch_widths is not None:
        raise click.UsageError("give --width-divisor or --channels, not both")
    cityscapes = data == "cityscapes" or is_cityscapes_root(data)
    if not cityscapes and not Path(data).is_dir():
        raise click.BadParameter(
            f"{data} is not a folder: give an aligned A|B folder (DIR/<split>/*.png), a "
            "Cityscapes root (leftImg8bit/ and gtFine/) or 'cityscapes'",
            param_hint="--data",
        )
    if data != "cityscapes":
        _refuse(("data_root",), "it locates --data cityscapes; --data already names the folder")
    if size is not None:
        check_size(size)
    options = {"steps": steps, "batch_size": batch_size, "lr": lr, "seed": seed}
    hyper = {k: USER_DEFAULTS[k] if v is None else v for k, v in options.items()}
    check_training_options(hyper["steps"], hyper["batch_size"], hyper["lr"])
    inputs = (data if Path(data).exists() else None, classes, data_root)
    checks.output_file(out, "--out", inputs=inputs)
    if cityscapes:
        _refuse(("classes", "labels_side"), "Cityscapes has its 19 classes and trainId maps")
        outputs = CITYSCAPES_OUTPUTS
    else:
        if classes is None:
            raise click.UsageError(
                f"--data {data} is an aligned folder: give --classes FILE.json, its class "
                'table {"classes": [{"name": "road", "color": [128, 64, 128]}, ...]}, to decode '
                "the colour label maps"
            )
        table = read_class_table(classes)
        outputs = len(table)
    arch, arch_choice = user_arch(outputs, width_divisor, arch_widths)
    if cityscapes:
        root = data_root if data == "cityscapes" else data
        seg_data = cityscapes_segmentation_data(
            root, split=split, size=size or CITYSCAPES_SIZE, progress=not quiet
        )
    else:
        seg_data, stats = aligned_segmentation_data(
            data,
            table,
            split=split,
            labels_side=labels_side or "B",
            size=size,
            progress=not quiet,
        )
        click.echo(f"labels ({labels_side or 'B'} side): {stats.summary()}", err=True)
    path = train_user_segmenter(
        seg_data,
        arch,
        out,
        arch_choice=arch_choice,
        device=device,
        progress=not quiet,
        **hyper,
    )
    click.echo(f"{path}  sha256 {sha256_file(path)}")
    described = seg_data.description
    click.echo(
        f"trained on {described['n_train']} {described['data']} images of "
        f"{described['data_name']}/{described['split']} at {described['size']}×"
        f"{described['size']}, {len(seg_data.table)} classes; data sha256 "
        f"{described['data_sha256']}"
    )
    if cityscapes:
        where = f" --data-root {shlex.quote(str(root))}" if root is not None else ""
        click.echo(
            "next: p2pbench eval --gen G.pt --data cityscapes"
            f"{where} --protocol pix2pix-2017-fast --segmenter-weights {shlex.quote(str(path))}"
        )
    else:
        click.echo(
            f"next: p2pbench eval --gen G.pt --data {shlex.quote(data)} "
            f"--segmenter-weights {shlex.quote(str(path))}"
        )


COMMANDS = (fcn_group,)
