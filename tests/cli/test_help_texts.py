"""Every option of every `p2pbench` command says what it does in `--help`."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from p2pbench.cli.main import main


def commands(
    command: click.Command = main, path: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], click.Command]]:
    """(path, command) for the group and every command below it, depth first."""
    found = [(path, command)]
    if isinstance(command, click.Group):
        for name, sub in sorted(command.commands.items()):
            found += commands(sub, (*path, name))
    return found


COMMANDS = commands()
IDS = [" ".join(path) or "p2pbench" for path, _ in COMMANDS]


def test_the_walk_reaches_every_command() -> None:
    names = {" ".join(path) for path, _ in COMMANDS}
    for expected in ("train", "eval", "generate", "ablate", "demo", "fcn train", "data synth"):
        assert expected in names
    options = [p for _, c in COMMANDS for p in c.params if isinstance(p, click.Option)]
    assert len(options) > 150  # 172 when this test was written


@pytest.mark.parametrize("path,command", COMMANDS, ids=IDS)
def test_every_option_has_a_help_text(path: tuple[str, ...], command: click.Command) -> None:
    bare = [
        "/".join(p.opts + p.secondary_opts)
        for p in command.params
        if isinstance(p, click.Option) and not (p.help or "").strip()
    ]
    assert not bare, f"p2pbench {' '.join(path)}: options without a help text: {bare}"


@pytest.mark.parametrize("path,command", COMMANDS, ids=IDS)
def test_help_renders(path: tuple[str, ...], command: click.Command) -> None:
    res = CliRunner().invoke(main, [*path, "--help"])
    assert res.exit_code == 0, res.output
    for param in command.params:
        if isinstance(param, click.Option) and not param.hidden:
            assert param.opts[-1] in res.output
