"""envboard's command line: `envboard list`, `versions`, `packages`, `serve`, `sync`, `mode`,
`check`, `users`, `cache clear`, `outdated`, `upgrade`, `rollback`.

One click group. Every setting of the box (the workspace, the state dir, serve's flags) also
reads an ENVBOARD_* environment variable, the flag winning; flags of one call (--json, --yes,
--as) read none. Each module here defines its subcommands and turns their options into core
calls; each command returns its exit code.

Every module here is imported for every command, `--help` included, so each imports at its top
only click and what its options show (choices, defaults); a command imports the core it runs
inside its function. `envboard --help` or `users add` then loads no Flask, no jobs and no board,
and `serve` loads what the server needs, not the other commands' pages.
"""

from __future__ import annotations

import os
import sys

import click

from .. import __version__
from . import actions, checking, inventory, listing, serve, upgrades, users
from .options import CONTEXT


class EnvboardGroup(click.Group):
    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except BrokenPipeError:  # `envboard list | head`: the reader has what it wanted
            # what is left in stdout's buffer goes nowhere, not into a second error at exit
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0


@click.group(
    "envboard",
    cls=EnvboardGroup,
    context_settings=CONTEXT,
    invoke_without_command=True,
    epilog="Run `envboard COMMAND --help` for a command's options. Without --workspace, envboard "
    "finds the workspace from the current folder the way dg does.",
)
@click.version_option(__version__, "--version", prog_name="envboard", message="%(prog)s %(version)s")
@click.pass_context
def envboard(ctx: click.Context) -> int:
    """A dashboard for the Python environments of a dg workspace."""
    if ctx.invoked_subcommand is None:  # `envboard` alone: what it can do, not an error
        click.echo(ctx.get_help())
    return 0


for area in (listing, inventory, serve, actions, checking, upgrades, users):
    for subcommand in area.COMMANDS:
        envboard.add_command(subcommand)


def main(argv: list[str] | None = None) -> int:
    """Run one command; its exit code (2 for a flag or value it refuses, 130 for Ctrl-C)."""
    try:
        code = envboard.main(args=argv, prog_name="envboard", standalone_mode=False)
    except click.ClickException as exc:  # a bad flag or value: one line under the usage
        exc.show()
        return exc.exit_code
    except click.Abort:  # click's name for Ctrl-C
        return 130
    return code or 0


if __name__ == "__main__":
    sys.exit(main())
