"""What every command shares: the group class (command line, exit codes) and small helpers."""

from __future__ import annotations

import contextlib
import os
import sys
import traceback
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import MISSING, dataclass, fields
from typing import Any, TextIO

import click

from p2pbench.cli.errors import (
    BUG_REPORT,
    EXIT_BAD_INPUT,
    EXIT_BUG,
    EXIT_INTERRUPTED,
    CommandError,
    exit_code_for,
    message_of,
)
from p2pbench.distributed import init_from_environment, is_main_process, is_peer_failure, shutdown
from p2pbench.errors import P2PBenchWarning


@dataclass(frozen=True)
class Invocation:
    """What the user typed, recorded in every result."""

    argv: tuple[str, ...]


class P2PBenchGroup(click.Group):
    """A click group that records its command line and maps exceptions to exit codes.

    Under torchrun (`torchrun --nproc_per_node=N -m p2pbench CMD ...`) every command runs
    inside the process group that `p2pbench.distributed.init_from_environment` forms from the
    environment (nccl for `--device cuda`, else gloo), destroyed afterwards, also on errors.
    Ranks other than 0 write nothing on stdout (their errors still go to stderr). A rank whose
    collective fails because another rank stopped exits 2 with a one-line message; the rank
    that failed first reports its own error and status. p2pbench's warnings (`P2PBenchWarning`)
    are shown as one line on stderr, `p2pbench: warning: <message>`.
    """

    def main(self, args: Sequence[str] | None = None, *rest: Any, **extra: Any) -> Any:
        argv = tuple(sys.argv[1:] if args is None else args)
        extra.setdefault("obj", Invocation(("p2pbench", *argv)))
        return super().main(list(argv), *rest, **extra)

    def invoke(self, ctx: click.Context) -> Any:
        argv = ctx.obj.argv if isinstance(ctx.obj, Invocation) else tuple(sys.argv[1:])
        try:
            with _torchrun_group(_option_value(argv, "--device")), _readable_warnings():
                return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except BrokenPipeError:  # the reader stopped (`p2pbench ... | head`): not an error
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())  # no second error when Python flushes stdout
            ctx.exit(0)
        except KeyboardInterrupt:  # Ctrl-C: not a regression (1), the shell's 128 + SIGINT
            click.echo(
                "p2pbench: interrupted; outputs are written atomically, none is partial", err=True
            )
            ctx.exit(EXIT_INTERRUPTED)
        except Exception as e:
            if is_peer_failure(e):
                rank = os.environ.get("RANK", "?")
                lines = message_of(e).strip().splitlines() or [type(e).__name__]
                raise CommandError(
                    f"rank {rank} stopped: another process failed or stopped answering "
                    f"(its own error says why): {lines[0]}",
                    EXIT_BAD_INPUT,
                ) from None
            code = exit_code_for(e)
            if code is None:  # a bug: the traceback, and where to send it
                traceback.print_exc()
                click.echo(BUG_REPORT, err=True)
                ctx.exit(EXIT_BUG)
            raise CommandError(message_of(e), code) from None


@contextlib.contextmanager
def _torchrun_group(device: str | None) -> Iterator[None]:
    """The process group of a torchrun launch (if any) around a command; rank 0 alone prints."""
    init_from_environment(device)
    try:
        if is_main_process():
            yield
        else:
            with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
                yield
    finally:
        shutdown()


@contextlib.contextmanager
def _readable_warnings() -> Iterator[None]:
    """Show p2pbench's warnings as `p2pbench: warning: <message>` on stderr (others as usual)."""
    with warnings.catch_warnings():
        default = warnings.showwarning

        def show(
            message: Warning | str,
            category: type[Warning],
            filename: str,
            lineno: int,
            file: TextIO | None = None,
            line: str | None = None,
        ) -> None:
            if issubclass(category, P2PBenchWarning):
                click.echo(f"p2pbench: warning: {message}", err=True)
            else:
                default(message, category, filename, lineno, file, line)

        warnings.showwarning = show
        yield


def _option_value(argv: Sequence[str], name: str) -> str | None:
    """The value given to option `name` (`--name VALUE` or `--name=VALUE`), else None."""
    for i, arg in enumerate(argv):
        if arg == name and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(name + "="):
            return arg[len(name) + 1 :]
    return None


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
