"""envboard's command line: `envboard list`, `versions`, `packages`, `serve`, `sync`, `mode`,
`check`, `users`, `cache clear`,
`outdated`, `upgrade`, `rollback`.

Every flag also reads an ENVBOARD_* environment variable (flag wins). Each module here
adds its subcommands and turns their arguments into core calls.
"""

from __future__ import annotations

import argparse
import sys

from .. import __version__
from . import actions, checking, inventory, listing, serve, upgrades, users


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="envboard",
        description="A dashboard for the Python environments of a dg workspace.",
        epilog="Run `envboard COMMAND --help` for a command's options. Without --workspace, "
        "envboard finds the workspace from the current folder the way dg does.",
    )
    parser.add_argument("--version", action="version", version=f"envboard {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for area in (listing, inventory, serve, actions, checking, upgrades, users):
        area.add_parsers(commands)
    _remember_parsers(parser)
    return parser


def _remember_parsers(parser: argparse.ArgumentParser) -> None:
    """Each subcommand's parser in its own namespace, so that an unknown flag (which argparse
    leaves to the top level) is reported with that subcommand's usage."""
    for action in parser._actions:  # argparse offers no public walk of its subparsers
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                sub.set_defaults(parser=sub)
                _remember_parsers(sub)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        getattr(args, "parser", parser).error(f"unrecognized arguments: {' '.join(unknown)}")
    if args.command is None:  # `envboard` alone: what it can do, not an argparse error
        parser.print_help()
        return 0
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
