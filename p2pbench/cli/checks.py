"""Checks every command makes before any work: outputs writable and never an input.

A user should learn that `--out` is unwritable in a second, not after a 1.6-hour evaluation,
and that an option given where it has no effect is refused, not silently ignored.
Each check raises ValueError / FileExistsError (exit 2) with what to do.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import click
from click.core import ParameterSource

from p2pbench.base import p2pbench_home
from p2pbench.errors import InvalidValueError


def option_given(name: str) -> bool:
    """Whether the user typed option `name` (not its default)."""
    source = click.get_current_context().get_parameter_source(name)
    return source in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)


def check_applies(name: str, applies: bool, why: str) -> None:
    """An option given where it has no effect is an error, never silently ignored."""
    if option_given(name) and not applies:
        raise click.UsageError(f"--{name.replace('_', '-')} has no effect here: {why}")


def output_file(path: str, what: str, inputs: Iterable[str | None] = ()) -> None:
    """`path` can be written as a file and is not (inside) one of `inputs`."""
    p = Path(path)
    if p.is_dir():
        raise InvalidValueError(f"{what} {path} is a folder; give a file name")
    _writable_location(p, what)
    _not_an_input(p, what, inputs)


def output_dir(path: str, what: str, inputs: Iterable[str | None] = ()) -> None:
    """`path` can be created as a folder and neither is, holds nor lies inside an input."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise InvalidValueError(f"{what} {path} is a file; give a folder")
    _writable_location(p, what)
    _not_an_input(p, what, inputs, folder=True)


def cache_home(what: str) -> None:
    """p2pbench's cache home (`$P2PBENCH_HOME`) can be written."""
    home = p2pbench_home()
    _writable_location(home / "probe", f"{what} needs the cache $P2PBENCH_HOME ({home}), but it")


def _writable_location(p: Path, what: str) -> None:
    ancestor = p.absolute().parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise InvalidValueError(
            f"{what} {p}: {ancestor} is a file, so nothing can be created under it"
        )
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise InvalidValueError(f"{what} {p}: {ancestor} is not writable; choose another location")


def _not_an_input(p: Path, what: str, inputs: Iterable[str | None], folder: bool = False) -> None:
    out = p.resolve()
    for given in inputs:
        if not given:
            continue
        source = Path(given).resolve()
        clash = out == source or source in out.parents or (folder and out in source.parents)
        if clash:
            raise InvalidValueError(
                f"{what} {p} would overwrite or mix with the input {given}; write the "
                "output somewhere else"
            )
