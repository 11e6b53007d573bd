"""`p2pbench weights`: the weight files p2pbench can use — list them, fetch them (the only
command that downloads), verify them, print where one is."""

from __future__ import annotations

import json
import re
import sys

import click

import fcn.weights  # noqa: F401  # registers the FCN-8s conversion step
from p2pbench.cli import checks
from p2pbench.errors import InvalidValueError, UnavailableError
from p2pbench.weights.catalog import catalog
from p2pbench.weights.store import WeightsMissingError, entry, fetch, state


class WeightsCheckFailed(UnavailableError, RuntimeError):
    """`weights verify` found a file whose bytes are wrong (exit 1)."""


@click.group("weights")
def weights_group() -> None:
    """The weight files p2pbench can use: list, fetch, verify, path."""


@weights_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of a table")
@click.option("--no-hash", is_flag=True, help="do not hash present files (faster)")
def list_command(as_json: bool, no_hash: bool) -> None:
    """Every weight file: what uses it, where it is (or that it is missing), its hash."""
    states = [state(f, hash_files=not no_hash) for f in catalog().values()]
    if as_json:
        click.echo(json.dumps([s.as_dict() for s in states], indent=2))
        return
    for s in states:
        where = f"{s.path} ({s.found_by})" if s.path else "missing"
        click.echo(f"{s.entry.name}: {s.check}\n  used by: {s.entry.used_by}\n  at: {where}")
        click.echo(f"  hash: {s.entry.hash_note()}\n  from: {' | '.join(s.entry.urls)}")
        if s.entry.licence:
            click.echo(f"  licence: {s.entry.licence}")


@weights_group.command("path")
@click.argument("name")
def path_command(name: str) -> None:
    """Print where weight file NAME is (exit 2 if it is missing)."""
    s = state(entry(name), hash_files=False)
    if s.path is None:
        raise WeightsMissingError(
            f"{name} is missing; get it with `p2pbench weights fetch {name}` "
            f"(from {s.entry.urls[0]})"
        )
    click.echo(str(s.path))


@weights_group.command("fetch")
@click.argument("names", nargs=-1)
@click.option("--all", "fetch_all", is_flag=True, help="fetch every weight file in the list")
@click.option(
    "--sha256",
    help="the full sha256 you trust for the one file named (needed for a plain http:// "
    "source without an official hash, such as the FCN-8s caffemodel's)",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=30.0,
    show_default=True,
    help="seconds without data before a download fails",
)
def fetch_command(
    names: tuple[str, ...], fetch_all: bool, sha256: str | None, timeout: float
) -> None:
    """Download the named weight files into $P2PBENCH_HOME/weights, verified; files already
    present and right are not downloaded again."""
    if bool(names) == fetch_all:
        raise InvalidValueError("name the weight files to fetch, or pass --all (not both)")
    if sha256 is not None:
        if len(names) != 1:
            raise InvalidValueError("--sha256 applies to exactly one named weight file")
        if not re.fullmatch(r"[0-9a-fA-F]{64}", sha256):
            raise InvalidValueError(f"--sha256 must be 64 hex digits, found {sha256!r}")
    checks.cache_home("weights fetch")
    files = list(catalog().values()) if fetch_all else [entry(n) for n in names]
    for file in files:
        s = fetch(file, sha256=sha256, timeout=timeout, progress=sys.stderr.isatty())
        click.echo(f"{file.name}: {s.path} ({s.check})")


@weights_group.command("verify")
@click.argument("names", nargs=-1)
def verify_command(names: tuple[str, ...]) -> None:
    """Hash every present weight file (or the named ones) against its official or pinned hash;
    exit 1 if any is wrong."""
    files = [entry(n) for n in names] if names else list(catalog().values())
    bad = []
    for file in files:
        s = state(file)
        if s.path is None:
            if names:
                raise WeightsMissingError(f"{file.name} is missing; nothing to verify")
            continue
        click.echo(f"{file.name}: {s.check} ({s.path})")
        if not s.ok:
            bad.append(file.name)
    if bad:
        raise WeightsCheckFailed(
            f"wrong bytes: {', '.join(bad)}; delete them and run `p2pbench weights fetch "
            f"{' '.join(bad)}`"
        )


COMMANDS = (weights_group,)
