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
