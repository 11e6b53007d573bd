"""What every command shares: the group class (command line, exit codes) and small helpers."""

from __future__ import annotations

import sys
import traceback
from collections.abc import Sequence
from dataclasses import MISSING, dataclass, fields
from typing import Any

import click

from p2pbench.cli.errors import BUG_REPORT, EXIT_BUG, CommandError, exit_code_for, message_of


@dataclass(frozen=True)
class Invocation:
    """What the user typed, recorded in every result."""

    argv: tuple[str, ...]


class P2PBenchGroup(click.Group):
    """A click group that records its command line and maps exceptions to exit codes."""

    def main(self, args: Sequence[str] | None = None, *rest: Any, **extra: Any) -> Any:
        argv = tuple(sys.argv[1:] if args is None else args)
        extra.setdefault("obj", Invocation(("p2pbench", *argv)))
        return super().main(list(argv), *rest, **extra)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as e:
            code = exit_code_for(e)
            if code is None:  # a bug: the traceback, and where to send it
                traceback.print_exc()
                click.echo(BUG_REPORT, err=True)
                ctx.exit(EXIT_BUG)
            raise CommandError(message_of(e), code) from None


def command_line() -> tuple[str, ...]:
    """The command line of the running command (`p2pbench ...`), as typed."""
    obj = click.get_current_context().find_root().obj
    return obj.argv if isinstance(obj, Invocation) else ()


def default_of(cls: type, name: str) -> Any:
    """The default of field `name` of the dataclass `cls` (the CLI shows library defaults)."""
    for f in fields(cls):
        if f.name == name:
            if f.default is MISSING:
                raise ValueError(f"{cls.__name__}.{name} has no default")
            return f.default
    raise ValueError(f"{cls.__name__} has no field {name!r}")
