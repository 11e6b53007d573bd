"""The `p2pbench` command line: one module per command group over the library."""

from p2pbench.cli.main import main

__all__ = ["main"]
