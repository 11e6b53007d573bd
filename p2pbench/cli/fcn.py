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
from p2pbench.cli import checks
from p2pbench.data.colour_labels import SIDES, read_class_table
from p2pbench.devices import check_device
from p2pbench.evaluation.segmenters import SEGMENTERS
from p2pbench.train.segmenter import (
    USER_OPTIONS,
    SegmenterTraining,
    TrainedSegmenter,
    TrainingOptions,
    replay_recipe,
    train_segmenter,
    user_arch,
)
from p2pbench.train.segmenter_data import (
    CITYSCAPES_SIZE,
    AlignedData,
    CityscapesData,
    check_size,
    is_cityscapes_root,
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
    help=f"default: the shipped recipe's; {USER_OPTIONS.steps} with --data",
)
@click.option(
    "--batch-size", type=int, default=None, help=f"--data [default: {USER_OPTIONS.batch_size}]"
)
@click.option("--lr", type=float, default=None, help=f"--data [default: {USER_OPTIONS.lr}]")
@click.option(
    "--seed",
    type=int,
    default=None,
    help=f"default: the shipped recipe's; {USER_OPTIONS.seed} with --data",
)
@click.option(
    "--device", default="cpu", show_default=True, help="cpu, cuda, cuda:N or mps to train on"
)
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False),
    help="weights file to write: the network with its recipe (and, with --data, the class "
    "table and a sha256 of the training files)",
)
@click.option("--quiet", is_flag=True, help="no progress bars")
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
        training = replay_recipe(name, SEGMENTERS.get(name).arch, steps=steps, seed=seed)
        trained = train_segmenter(training, out, device=device, progress=not quiet)
        click.echo(f"{trained.path}  sha256 {trained.sha256}")
        return
    if segmenter is not None:
        raise click.UsageError(
            "--segmenter replays a shipped synthcity recipe and --data trains on your data; "
            "give one of them"
        )
    training = _user_training(
        data,
        data_root,
        classes,
        split,
        labels_side,
        size,
        width_divisor,
        channels,
        out,
        TrainingOptions(
            steps=USER_OPTIONS.steps if steps is None else steps,
            batch_size=USER_OPTIONS.batch_size if batch_size is None else batch_size,
            lr=USER_OPTIONS.lr if lr is None else lr,
            seed=USER_OPTIONS.seed if seed is None else seed,
        ),
    )
    seg_data = training.data.read(progress=not quiet)
    if seg_data.label_stats is not None:
        side = labels_side or "B"
        click.echo(f"labels ({side} side): {seg_data.label_stats.summary()}", err=True)
    trained = train_segmenter(training, out, data=seg_data, device=device, progress=not quiet)
    _report_user_training(trained, training, data)


def _user_training(
    data: str,
    data_root: str | None,
    classes: str | None,
    split: str,
    labels_side: str | None,
    size: int | None,
    width_divisor: int | None,
    channels: str | None,
    out: str,
    options: TrainingOptions,
) -> SegmenterTraining:
    """The run `fcn train --data` asks for, every option checked before anything is read."""
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
    inputs = (data if Path(data).exists() else None, classes, data_root)
    checks.output_file(out, "--out", inputs=inputs)
    source: CityscapesData | AlignedData
    if cityscapes:
        _refuse(("classes", "labels_side"), "Cityscapes has its 19 classes and trainId maps")
        root = data_root if data == "cityscapes" else data
        source = CityscapesData(root, split=split, size=size or CITYSCAPES_SIZE)
    else:
        if classes is None:
            raise click.UsageError(
                f"--data {data} is an aligned folder: give --classes FILE.json, its class "
                'table {"classes": [{"name": "road", "color": [128, 64, 128]}, ...]}, to decode '
                "the colour label maps"
            )
        source = AlignedData(Path(data), read_class_table(classes), split, labels_side or "B", size)
    arch, arch_choice = user_arch(source.num_outputs, width_divisor, arch_widths)
    return SegmenterTraining(source, arch, options, arch_choice=arch_choice)


def _report_user_training(
    trained: TrainedSegmenter, training: SegmenterTraining, data: str
) -> None:
    """The file, what it was trained on, and the `eval` command that scores with it."""
    click.echo(f"{trained.path}  sha256 {trained.sha256}")
    described = trained.data.description
    click.echo(
        f"trained on {described['n_train']} {described['data']} images of "
        f"{described['data_name']}/{described['split']} at {described['size']}×"
        f"{described['size']}, {len(trained.data.table or ())} classes; data sha256 "
        f"{described['data_sha256']}"
    )
    weights = shlex.quote(str(trained.path))
    if isinstance(training.data, CityscapesData):
        root = training.data.root
        where = f" --data-root {shlex.quote(str(root))}" if root is not None else ""
        click.echo(
            "next: p2pbench eval --gen G.pt --data cityscapes"
            f"{where} --protocol pix2pix-2017-fast --segmenter-weights {weights}"
        )
    else:
        click.echo(
            f"next: p2pbench eval --gen G.pt --data {shlex.quote(data)} --segmenter-weights "
            f"{weights}"
        )


COMMANDS = (fcn_group,)
