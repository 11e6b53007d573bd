"""`p2pbench data`: datasets; `data synth` writes synthcity to disk (over `write_synthcity`)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from p2pbench.cli import checks
from p2pbench.data.synthcity import (
    SYNTHCITY_SIZES,
    SYNTHCITY_VERSION,
    SYNTHCITY_VERSIONS,
    read_manifest,
    write_synthcity,
)


@click.group("data")
def data_group() -> None:
    """Datasets: generate the built-in synthcity data."""


@data_group.command("synth")
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to create (written atomically).",
)
@click.option(
    "--size",
    default=128,
    show_default=True,
    type=click.Choice([str(s) for s in SYNTHCITY_SIZES]),
    help="Image side in pixels.",
)
@click.option(
    "--n-train",
    default=400,
    show_default=True,
    type=click.IntRange(min=0),
    help="Scenes in train/ (≥ 0; --n-train and --n-val together at least 1).",
)
@click.option(
    "--n-val",
    default=100,
    show_default=True,
    type=click.IntRange(min=0),
    help="Scenes in val/ (≥ 0).",
)
@click.option(
    "--seed",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    help="Content seed (≥ 0): each scene is a function of (seed, split, index).",
)
@click.option(
    "--version",
    "version",
    default=str(SYNTHCITY_VERSION),
    show_default=True,
    type=click.Choice([str(v) for v in SYNTHCITY_VERSIONS]),
    help="synthcity version (1: the synthcity@v1 protocol's scenes).",
)
@click.option("--overwrite", is_flag=True, help="Replace an existing synthcity folder.")
def synth_command(
    out: Path, size: str, n_train: int, n_val: int, seed: int, version: str, overwrite: bool
) -> None:
    """Generate the synthcity dataset in the pix2pix aligned format (photo A | labels B)."""
    checks.output_dir(str(out), "--out")
    with click.progressbar(length=n_train + n_val, label="synthcity", file=sys.stderr) as bar:
        path = write_synthcity(
            out,
            int(size),
            n_train,
            n_val,
            seed,
            version=int(version),
            overwrite=overwrite,
            progress=lambda done, total: bar.update(1),
        )
    manifest = read_manifest(path)
    click.echo(
        json.dumps(
            {
                "out": str(path),
                "size": manifest["size"],
                "seed": manifest["seed"],
                "counts": manifest["counts"],
                "sha256": manifest["sha256"],
                "generator_version": manifest["generator_version"],
            }
        )
    )


COMMANDS = (data_group,)
