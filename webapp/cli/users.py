"""`envboard users ...`: the users file of names, roles and token hashes."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .options import env


def add_parsers(commands) -> None:
    users = commands.add_parser("users", help="manage the users file")
    users_commands = users.add_subparsers(dest="users_command", required=True)
    add = users_commands.add_parser("add", help="add a user (or give one a new token); prints the token once")
    add.add_argument("name")
    add.add_argument("--role", choices=["viewer", "operator"], default="viewer")
    add.add_argument(
        "--users", default=env("USERS"), required=env("USERS") is None, help="users file (ENVBOARD_USERS)"
    )
    add.set_defaults(handler=cmd_users_add)


def cmd_users_add(args: argparse.Namespace) -> int:
    from ..core.users import UsersError, add_user

    try:
        token = add_user(Path(args.users).expanduser(), args.name, args.role)
    except (UsersError, OSError) as exc:
        print(f"envboard: {exc}", file=sys.stderr)
        return 2
    print(
        f"added {args.name} ({args.role}) to {args.users}. Their token, shown only this once:",
        file=sys.stderr,
    )
    print(token)
    return 0
