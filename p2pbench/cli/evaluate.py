"""`p2pbench eval` and `p2pbench generate`: score a source under a protocol; write outputs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from p2pbench.base import check_new_output_dir
from p2pbench.cli import checks
from p2pbench.cli.context import default_of
from p2pbench.cli.eval_checks import (
    build_run_spec,
    check_applies,
    check_eval_options,
    dataset_root,
    parse_encoder_weights,
    resolve_protocol,
)
from p2pbench.compute import FAST_MATH
from p2pbench.data.aligned import DIRECTIONS
from p2pbench.distributed import is_main_process
from p2pbench.evaluation import (
    EncoderSpec,
    GeneratorFile,
    ImageFolder,
    RealImages,
    RunSpec,
    ScoreSpec,
    evaluate,
    generate,
)
from p2pbench.evaluation.sources import NAMINGS
from p2pbench.metrics.cmmd import CMMD_PRECISIONS
from p2pbench.metrics.encoders import (
    ENCODERS,
    encoder_info,
)
from p2pbench.metrics.encoders.inception import PREPROCESSING
from p2pbench.metrics.keys import DEFAULT_GROUPS, GROUPS
from p2pbench.protocols import (
    DEFAULT_TASKS,
    USER_SEGMENTER_PREFIX,
    protocol_names,
)
from p2pbench.reporting.text import format_result


def _shared_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """What `eval` and `generate` share: the generator, the protocol, how to run."""
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
            help="dataset (synthcity, cityscapes, or an aligned A|B folder); selects the "
            "default protocol",
        ),
        click.option(
            "--protocol",
            type=click.Choice(protocol_names()),
            default=None,
            help="evaluation protocol (default: the data's)",
        ),
        click.option(
            "--task",
            type=click.Choice(DEFAULT_TASKS),
            default="labels2photo",
            show_default=True,
            help="selects the default protocol with --data",
        ),
        click.option("--data-root", default=None, help="dataset root (Cityscapes)"),
        click.option(
            "--direction",
            type=click.Choice(DIRECTIONS),
            default=None,
            help="aligned folders: which half is the input (default BtoA: B holds the labels, "
            "as in the pix2pix datasets; AtoB for edges2*, maps)",
        ),
        click.option("--split", default=None, help="default: the protocol's split"),
        click.option(
            "--limit",
            type=int,
            default=None,
            help="score only the first N images (recorded in the result)",
        ),
        click.option(
            "--batch-size",
            type=int,
            default=default_of(RunSpec, "batch_size"),
            show_default=True,
            help="images per batch through the networks (≥ 1); results do not depend on it "
            "(IS and FID to ~1e-6 relative)",
        ),
        click.option(
            "--device",
            default=default_of(RunSpec, "device"),
            show_default=True,
            help="cpu, cuda, cuda:N or mps; under torchrun, cuda puts each process on "
            "cuda:$LOCAL_RANK",
        ),
        click.option(
            "--workers",
            type=click.IntRange(min=0),
            default=default_of(RunSpec, "workers"),
            show_default=True,
            help="processes that decode and resize the next batches while the networks run",
        ),
        click.option(
            "--fast-math",
            type=click.Choice(FAST_MATH),
            default=None,
            help="TF32 or bf16 metric networks: refused unless measured to agree (it is not yet)",
        ),
        click.option(
            "--exact",
            is_flag=True,
            help="run the networks in fp32 NCHW, the path the faster default is tested against",
        ),
        click.option(
            "--seed",
            type=int,
            default=default_of(RunSpec, "seed"),
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


@click.command("eval")
@_shared_options
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
    type=click.Choice(NAMINGS),
    default=default_of(ImageFolder, "naming"),
    show_default=True,
    help="--images file names: <id>.png, the original script's "
    "<city>_<seq>_<frame>_leftImg8bit.png, or the port's <n>_fake_B.png",
)
@click.option(
    "--allow-partial-split",
    is_flag=True,
    help="score a split with fewer images than the protocol expects (recorded)",
)
@click.option(
    "--segmenter-weights",
    default=None,
    help="override the protocol's weights file; with an aligned folder (--data DIR), weights "
    "from `p2pbench fcn train --data DIR` give FCN-score on it",
)
@click.option(
    "--metrics",
    "metric_groups",
    default=",".join(DEFAULT_GROUPS),
    show_default=True,
    help="metric groups (those that apply): fcn (FCN-score), paired (L1, PSNR, SSIM), "
    "inception (FID, IS, KID); opt-in, each a large network per image: dinov2 (FD_DINOv2), "
    f"cmmd (CMMD), prdc (precision, recall, density, coverage). All: {','.join(GROUPS)}",
)
@click.option(
    "--dinov2",
    type=click.Choice([n for n in ENCODERS.names() if n.startswith("dinov2-")]),
    default=default_of(EncoderSpec, "dinov2"),
    show_default=True,
    help="the DINOv2 encoder of FD_DINOv2",
)
@click.option(
    "--dinov2-mode",
    type=click.Choice(encoder_info("dinov2-vitl14").modes),
    default=default_of(EncoderSpec, "dinov2_mode"),
    show_default=True,
    help="DINOv2 preprocessing (FD_DINOv2, and prdc over DINOv2): dgm-eval (PIL bicubic), "
    "edm2 (torch bicubic, antialias), torch-fidelity (TF1 bilinear): three different numbers",
)
@click.option(
    "--cmmd-crop",
    type=click.Choice(encoder_info("clip-vitl14-336").modes),
    default=default_of(EncoderSpec, "cmmd_crop"),
    show_default=True,
    help="CMMD's crop: center-crop (the reference's; drops the sides of a wide frame) or "
    "squash (the whole frame; not comparable with published CMMD). On the protocols' square "
    "images the two agree",
)
@click.option(
    "--cmmd-precision",
    type=click.Choice(CMMD_PRECISIONS),
    default=default_of(EncoderSpec, "cmmd_precision"),
    show_default=True,
    help="CMMD's arithmetic: float64 (exact to rounding) or float32 (the reference's, about "
    "1e-4 away; only to match a paper's published digits)",
)
@click.option(
    "--prdc-encoder",
    type=click.Choice([n for n in ENCODERS.names() if n != "inception-v3"]),
    default=default_of(EncoderSpec, "prdc_encoder"),
    show_default=True,
    help="the features of precision/recall/density/coverage (vgg16-fc2: torch-fidelity's)",
)
@click.option(
    "--encoder-weights",
    multiple=True,
    metavar="NAME=PATH",
    help="weights file of a feature encoder, e.g. dinov2-vitl14=dinov2_vitl14_pretrain.pth "
    "(else its environment variable, else the torch hub / Hugging Face caches)",
)
@click.option(
    "--fid-mode",
    type=click.Choice(PREPROCESSING.names()),
    default=default_of(EncoderSpec, "fid_mode"),
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
    help="metrics that must be computed, e.g. --require fid (else reported unavailable; "
    "exit 1 when one is)",
)
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="result JSON file")
@click.option("--json", "as_json", is_flag=True, help="print the result JSON on stdout")
def eval_command(
    gen: str | None,
    images: str | None,
    real: bool,
    data: str | None,
    protocol: str | None,
    task: str,
    data_root: str | None,
    direction: str | None,
    split: str | None,
    limit: int | None,
    batch_size: int,
    device: str,
    workers: int,
    fast_math: str | None,
    exact: bool,
    seed: int,
    dropout: bool | None,
    quiet: bool,
    per_image: bool,
    allow_missing: bool,
    naming: str,
    allow_partial_split: bool,
    segmenter_weights: str | None,
    metric_groups: str,
    fid_mode: str,
    inception_weights: str | None,
    reference_stats: str | None,
    dinov2: str,
    dinov2_mode: str,
    cmmd_crop: str,
    cmmd_precision: str,
    prdc_encoder: str,
    encoder_weights: tuple[str, ...],
    require: tuple[str, ...],
    out: str | None,
    as_json: bool,
) -> None:
    """Score a generator, a folder of its outputs, or the real photos."""
    chosen = [name for name, v in (("--gen", gen), ("--images", images), ("--real", real)) if v]
    if len(chosen) != 1:
        raise click.UsageError("give exactly one of --gen CKPT, --images DIR, --real")
    source = (
        GeneratorFile(gen, dropout=dropout)
        if gen
        else ImageFolder(images, naming=naming)
        if images
        else RealImages()
    )
    proto = resolve_protocol(data, protocol, task, split, direction, segmenter_weights)
    score = ScoreSpec(
        metrics=tuple(m.strip() for m in metric_groups.split(",") if m.strip()),
        split=split,
        limit=limit,
        per_image=per_image,
        allow_missing=allow_missing,
        allow_partial_split=allow_partial_split,
        require=tuple(require),
        segmenter_weights=segmenter_weights,
    )
    run = build_run_spec(batch_size, device, seed, quiet, exact, workers, fast_math)
    encoder = EncoderSpec(
        fid_mode,
        inception_weights,
        reference_stats,
        dinov2=dinov2,
        dinov2_mode=dinov2_mode,
        cmmd_crop=cmmd_crop,
        cmmd_precision=cmmd_precision,
        prdc_encoder=prdc_encoder,
        weights=parse_encoder_weights(encoder_weights),
    )
    check_eval_options(proto, source, score, encoder)
    root = dataset_root(data, data_root, proto)
    if out:
        checks.output_file(out, "--out", inputs=(gen, images, proto.data_path, root))
    result = evaluate(source, protocol=proto, data_root=root, score=score, run=run, encoder=encoder)
    if out and is_main_process():  # one result file, from rank 0
        result.write(out)
    click.echo(result.to_json() if as_json else format_result(result), nl=not as_json)


@click.command("generate")
@_shared_options
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False),
    help="folder for the PNGs (and generate.json); written complete or not at all",
)
@click.option(
    "--overwrite",
    is_flag=True,
    help="replace a non-empty --out folder that generate wrote before",
)
@click.option(
    "--segmenter-weights",
    default=None,
    help="aligned folders: generate under the FCN-score protocol these weights (from "
    "`p2pbench fcn train --data DIR`) define on --data, as `eval` will score them",
)
def generate_command(
    gen: str | None,
    data: str | None,
    protocol: str | None,
    task: str,
    data_root: str | None,
    direction: str | None,
    split: str | None,
    limit: int | None,
    batch_size: int,
    device: str,
    workers: int,
    fast_math: str | None,
    exact: bool,
    seed: int,
    dropout: bool | None,
    quiet: bool,
    out: str,
    overwrite: bool,
    segmenter_weights: str | None,
) -> None:
    """Write a generator's outputs as PNGs named by sample id, as `eval` would score them."""
    if gen is None:
        raise click.UsageError("--gen CKPT is required")
    proto = resolve_protocol(data, protocol, task, split, direction, segmenter_weights)
    check_applies(
        "segmenter_weights",
        proto.segmenter.startswith(USER_SEGMENTER_PREFIX),
        f"{proto.key} does not take its segmenter from a file",
    )
    run = build_run_spec(batch_size, device, seed, quiet, exact, workers, fast_math)
    root = dataset_root(data, data_root, proto)
    checks.output_dir(out, "--out", inputs=(gen, proto.data_path, root))
    check_new_output_dir(out, overwrite)
    manifest = generate(
        GeneratorFile(gen, dropout=dropout),
        out,
        protocol=proto,
        data_root=root,
        split=split,
        limit=limit,
        run=run,
        overwrite=overwrite,
    )
    click.echo(f"wrote {manifest['n_images']} images to {out}")


COMMANDS = (eval_command, generate_command)
