"""p2pbench's own errors: one root, and the kinds the command line maps to exit statuses.

Every error p2pbench raises on purpose derives from `P2PBenchError`. Each concrete class also
keeps the builtin base it had before (`ValueError`, `FileNotFoundError`, `KeyError`, ...), so
library code that catches the builtin keeps working. The command line maps only these classes
(`p2pbench.cli.errors`); any other exception is a bug in p2pbench.
"""

from __future__ import annotations


class P2PBenchError(Exception):
    """The root of every error p2pbench raises on purpose."""


class BadInputError(P2PBenchError):
    """The input or the options are wrong: a missing or malformed file, an unknown name, a
    value out of range. The message says what was expected, what was found and how to fix it."""


class UnavailableError(P2PBenchError):
    """Something asked for cannot be computed here (missing weights or packages): the job ran,
    its verdict is negative."""


class P2PBenchWarning(UserWarning):
    """A warning p2pbench gives on purpose (through `p2pbench.distributed.warn`, on rank 0 only);
    the command line shows it as one line, `p2pbench: warning: <message>`."""


# The common kinds of bad input, each with the builtin base a library user may already catch.


class InvalidValueError(BadInputError, ValueError):
    """A value given (an option, an argument, a field of a file) is out of range or malformed."""


class InvalidTypeError(BadInputError, TypeError):
    """An argument of a kind p2pbench cannot use, or an option name it does not know."""


class PathNotFoundError(BadInputError, FileNotFoundError):
    """A file or folder the user named does not exist, or lacks what it should hold."""


class PathExistsError(BadInputError, FileExistsError):
    """An output path is taken (a file, a non-empty folder, a finished run)."""


class FileAccessError(BadInputError, OSError):
    """A file the user named cannot be read or written: unreadable, truncated, too large (a
    decompression bomb), or refused by the operating system. Raised `from` the original error."""
