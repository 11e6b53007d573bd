"""`p2pbench models`: the registered generators and discriminators."""

from __future__ import annotations

import click

from reference_models import DISCRIMINATORS, GENERATORS


@click.command("models")
def models_command() -> None:
    """List the registered generators and discriminators."""
    click.echo("generators:")
    for name in GENERATORS:
        entry = GENERATORS.get(name)
        click.echo(f"  {name:<10} {entry.family:<7} built for {entry.size}×{entry.size}")
    click.echo("discriminators:")
    for name in DISCRIMINATORS:
        entry = DISCRIMINATORS.get(name)
        click.echo(
            f"  {name:<10} receptive field {entry.receptive_field}×{entry.receptive_field}, "
            f"images of at least {entry.min_size}×{entry.min_size}"
        )


COMMANDS = (models_command,)
