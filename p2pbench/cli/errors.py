"""The exit-code contract of every p2pbench command, in one place.

| status | meaning |
|---|---|
| 0 | success |
| 1 | a regression (`check`), or a metric asked for with `--require` is unavailable |
| 2 | bad input or usage: unknown names, missing or malformed files, values out of range |
| 3 | a bug in p2pbench: the traceback is printed, with a request to report it |
| 130 | interrupted (Ctrl-C) |

Library code raises p2pbench's own errors (`p2pbench.errors`); the `p2pbench` group
(`cli.context.P2PBenchGroup`) maps them to a one-line message on stderr and these statuses.
Any other exception, a builtin `KeyError` or `ValueError` included, is a bug: exit 3.
"""

from __future__ import annotations

import click

from p2pbench.errors import BadInputError, UnavailableError

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_BUG = 0, 1, 2, 3
EXIT_INTERRUPTED = 130
EXIT_CODES_HELP = (
    "Exit status: 0 success; 1 a regression (check) or a required metric unavailable "
    "(--require); 2 bad input or usage; 3 a bug in p2pbench (please report it)."
)
BUG_REPORT = (
    "p2pbench: this is a bug, not a problem with your input. Please report it with the "
    "traceback above and the command line: https://github.com/p2pbench/p2pbench/issues"
)

FAILURES: tuple[type[Exception], ...] = (UnavailableError,)
"""Exceptions that mean the job ran and its verdict is negative: exit 1."""

BAD_INPUT: tuple[type[Exception], ...] = (BadInputError,)
"""Exceptions that mean the input or the options are wrong: exit 2. A builtin exception
(`ValueError`, `KeyError`, `OSError`, ...) is not among them: p2pbench raises a `BadInputError`
for bad input, so a builtin that reaches the command line comes from a bug."""


class CommandError(click.ClickException):
    """A message for the user and the exit status that goes with it."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def exit_code_for(error: BaseException) -> int | None:
    """The status an exception maps to, or None for a bug."""
    if isinstance(error, FAILURES):
        return EXIT_FAILED
    if isinstance(error, BAD_INPUT):
        return EXIT_BAD_INPUT
    return None


def message_of(error: BaseException) -> str:
    """The exception's message as written (KeyError quotes its argument; undo that)."""
    if isinstance(error, KeyError) and error.args:
        return str(error.args[0])
    return str(error)
