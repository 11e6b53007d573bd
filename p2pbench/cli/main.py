"""The `p2pbench` command: one group, a module per command group over the library.

Each command module is a thin click layer: parse, build the library's config, call, print.
Progress goes to stderr; results (tables, or JSON with --json) to stdout. Exceptions map to
exit codes in one place (`p2pbench.cli.errors`).
"""

from __future__ import annotations

import click

from p2pbench import __version__
from p2pbench.cli import ablate, data, evaluate, fcn, metrics, models, reporting, train, weights
from p2pbench.cli.context import P2PBenchGroup
from p2pbench.cli.errors import EXIT_CODES_HELP


@click.group(
    cls=P2PBenchGroup,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog=EXIT_CODES_HELP,
)
@click.version_option(__version__, prog_name="p2pbench")
def main() -> None:
    """Evaluate and benchmark paired image-to-image translation (pix2pix and descendants)."""


for _module in (models, data, train, fcn, evaluate, metrics, reporting, ablate, weights):
    for _command in _module.COMMANDS:
        main.add_command(_command)
