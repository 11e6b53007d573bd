"""`p2pbench fid` and `p2pbench stats`: FID between image sets, and reference statistics."""

from __future__ import annotations

import json
from pathlib import Path

import click

from p2pbench.cli import checks
from p2pbench.devices import check_device
from p2pbench.distributed import barrier, is_main_process
from p2pbench.evaluation import EncoderSpec, RealImages, RunSpec, ScoreSpec, evaluate
from p2pbench.metrics.availability import MetricUnavailableError
from p2pbench.metrics.encoders.inception import PREPROCESSING, find_inception_weights
from p2pbench.metrics.encoders.weights import EncoderWeightsError
from p2pbench.metrics.image_stats import compute_stats, fid_between
from p2pbench.metrics.reference_stats import (
    ReferenceStats,
    export_npz,
    import_npz,
    load_stats,
    save_stats,
)
from p2pbench.protocols import protocol_names

_MODE = click.option(
    "--fid-mode",
    "mode",
    type=click.Choice(PREPROCESSING.names()),
    default="tf",
    show_default=True,
    help="FID preprocessing",
)
_WEIGHTS = click.option(
    "--inception-weights",
    default=None,
    help="InceptionV3 weights (else $P2PBENCH_INCEPTION_WEIGHTS, else the "
    "torch hub cache names of torch-fidelity and pytorch-fid)",
)


@click.command("fid")
@click.argument("path_a", type=click.Path(exists=True))
@click.argument("path_b", type=click.Path(exists=True))
@_MODE
@_WEIGHTS
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=50,
    show_default=True,
    help="images per InceptionV3 forward pass (folders only; ≥ 1)",
)
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda, cuda:N or mps")
@click.option("--json", "as_json", is_flag=True, help="print a JSON object")
def fid_command(
    path_a: str,
    path_b: str,
    mode: str,
    inception_weights: str | None,
    batch_size: int,
    device: str,
    as_json: bool,
) -> None:
    """FID between two image folders or statistics files (.npz of pytorch-fid, or .pt)."""
    check_device(device)
    if any(Path(p).is_dir() for p in (path_a, path_b)):
        _require_weights(inception_weights, "FID of an image folder")
    out = fid_between(path_a, path_b, mode, inception_weights, batch_size, device)
    click.echo(json.dumps(out, indent=2) if as_json else f"FID ({mode}): {out['fid']:.6f}")


@click.command("stats")
@click.argument("source", required=False, type=click.Path(exists=True))
@click.option(
    "--protocol",
    type=click.Choice(protocol_names()),
    default=None,
    help="instead of SOURCE: the real images of a protocol (cached as eval uses them)",
)
@click.option(
    "--data-root",
    default=None,
    help="dataset root for --protocol (Cityscapes: else $CITYSCAPES_DATASET)",
)
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False),
    help="statistics file: .npz (pytorch-fid: mu, sigma) or .pt (p2pbench: sums)",
)
@_MODE
@_WEIGHTS
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=50,
    show_default=True,
    help="images per InceptionV3 forward pass (≥ 1)",
)
@click.option(
    "--device",
    default="cpu",
    show_default=True,
    help="cpu, cuda, cuda:N or mps; under torchrun, cuda puts each process on cuda:$LOCAL_RANK",
)
def stats_command(
    source: str | None,
    protocol: str | None,
    data_root: str | None,
    out: str,
    mode: str,
    inception_weights: str | None,
    batch_size: int,
    device: str,
) -> None:
    """Reference statistics of a folder, a protocol's real images, or a converted file.

    SOURCE may be an image folder, a pytorch-fid .npz (imported) or a p2pbench .pt (exported).
    """
    if (source is None) == (protocol is None):
        raise click.UsageError("give either SOURCE or --protocol")
    check_device(device)
    checks.output_file(out, "--out", inputs=(source,))
    if protocol is not None or (source is not None and Path(source).is_dir()):
        _require_weights(inception_weights, "statistics of images")
        checks.cache_home("statistics of images")
    if protocol is not None:
        stats = _protocol_stats(protocol, data_root, mode, inception_weights, batch_size, device)
    elif source is not None and source.endswith(".npz"):
        stats = import_npz(source)
    elif source is not None and source.endswith(".pt"):
        stats = load_stats(source)
    else:
        stats = compute_stats(source, mode, inception_weights, batch_size=batch_size, device=device)
    if not is_main_process():
        return
    if out.endswith(".npz"):
        export_npz(stats, out)
    elif isinstance(stats, ReferenceStats):
        save_stats(stats, out)
    else:
        raise click.UsageError(
            "a pytorch-fid .npz holds only (mean, covariance): write it as .npz, not .pt"
        )
    click.echo(f"wrote {out}")


def _require_weights(weights: str | None, what: str) -> None:
    """Missing InceptionV3 weights, found before any work: the metric is unavailable (exit 1)."""
    try:
        find_inception_weights(weights)
    except EncoderWeightsError as e:
        raise MetricUnavailableError(f"{what} needs InceptionV3 weights: {e}") from None


def _protocol_stats(
    protocol: str,
    data_root: str | None,
    mode: str,
    weights: str | None,
    batch_size: int,
    device: str,
) -> ReferenceStats:
    """The real-image statistics `eval` uses for `protocol`, computed (and cached) if needed."""
    result = evaluate(
        RealImages(),
        protocol=protocol,
        data_root=data_root,
        score=ScoreSpec(metrics=("inception",), require=("fid",)),
        run=RunSpec(batch_size=batch_size, device=device),
        encoder=EncoderSpec(fid_mode=mode, inception_weights=weights),
    )
    barrier()  # rank 0 writes the cache entry; the others read it afterwards
    return load_stats(Path(result.provenance["inception"]["reference_path"]))


COMMANDS = (fid_command, stats_command)
