"""`envboard users ...`: the users file of names, roles and token hashes, and their sessions."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..core.access.sessions import FILE_NAME as SESSIONS_FILE
from ..core.access.sessions import SessionStore, SessionStoreError
from ..core.access.users import UsersError, add_user, list_users, remove_user, rotate_user
from ..core.settings import default_state_dir
from .options import env


def add_parsers(commands) -> None:
    users = commands.add_parser("users", help="manage the users file")
    users_commands = users.add_subparsers(dest="users_command", metavar="COMMAND", required=True)

    def users_parser(name: str, help_text: str, handler, with_name: bool = True):
        parser = users_commands.add_parser(name, help=help_text, description=help_text)
        if with_name:
            parser.add_argument("name", metavar="NAME")
        parser.add_argument(
            "--users",
            default=env("USERS"),
            required=env("USERS") is None,
            help="users file (ENVBOARD_USERS)",
        )
        parser.add_argument(
            "--state-dir",
            default=env("STATE_DIR"),
            help="the server's state dir, whose sign-in sessions are ended (ENVBOARD_STATE_DIR)",
        )
        parser.set_defaults(handler=handler)
        return parser

    add = users_parser("add", "add a user; prints their token once", cmd_users_add)
    add.add_argument("--role", choices=["viewer", "operator"], default="viewer")
    add.add_argument(
        "--replace",
        action="store_true",
        help="the name exists: give it this role and a new token, ending its sessions",
    )
    users_parser("list", "list users and roles (tokens are never stored)", cmd_users_list, with_name=False)
    users_parser("rotate", "give a user a new token (printed once); ends their sessions", cmd_users_rotate)
    users_parser("remove", "remove a user; ends their sessions", cmd_users_remove)


def _end_sessions(args: argparse.Namespace, name: str) -> str:
    """End the user's sign-in sessions in the state dir a running server reads; says what it did."""
    state_dir = Path(args.state_dir).expanduser() if args.state_dir else default_state_dir()
    if not (state_dir / SESSIONS_FILE).exists():  # no server has kept sessions there: "0 ended" would mislead
        return (
            f"no server's sessions found in {state_dir}, so none were ended here: pass the server's "
            "--state-dir (or ENVBOARD_STATE_DIR) to end them now"
        )
    try:
        ended = SessionStore(state_dir).end_user(name)
    except SessionStoreError as exc:
        return f"their browser sessions could not be ended here: {exc}"
    return f"{ended} browser session{'s' if ended != 1 else ''} ended"


def cmd_users_add(args: argparse.Namespace) -> int:
    path = Path(args.users).expanduser()
    try:
        existed = any(user.name == args.name for user in list_users(path))
        token = add_user(path, args.name, args.role, replace=args.replace)
    except (UsersError, OSError) as exc:
        print(f"envboard: {exc}", file=sys.stderr)
        return 2
    verb = "replaced" if existed else "added"
    ended = f"; {_end_sessions(args, args.name)}" if existed else ""
    print(
        f"{verb} {args.name} ({args.role}) in {args.users}{ended}. Their token, shown only this once:",
        file=sys.stderr,
    )
    print(token)
    return 0


def cmd_users_list(args: argparse.Namespace) -> int:
    path = Path(args.users).expanduser()
    if not path.is_file():
        print(
            f"envboard: users file {args.users} does not exist; "
            f"create it with `envboard users add NAME --role operator --users {args.users}`",
            file=sys.stderr,
        )
        return 2
    try:
        users = list_users(path)
    except UsersError as exc:
        print(f"envboard: {exc}", file=sys.stderr)
        return 2
    if not users:
        print(f"no users in {args.users}; add one with `envboard users add NAME --role operator`")
        return 0
    width = max(len(user.name) for user in users)
    for user in users:
        print(f"{user.name.ljust(width)}  {user.role}")
    return 0


def cmd_users_rotate(args: argparse.Namespace) -> int:
    try:
        token = rotate_user(Path(args.users).expanduser(), args.name)
    except (UsersError, OSError) as exc:
        print(f"envboard: {exc}", file=sys.stderr)
        return 2
    print(
        f"new token for {args.name}; the old one no longer works, {_end_sessions(args, args.name)}. "
        "The new token, shown only this once:",
        file=sys.stderr,
    )
    print(token)
    return 0


def cmd_users_remove(args: argparse.Namespace) -> int:
    try:
        remove_user(Path(args.users).expanduser(), args.name)
    except (UsersError, OSError) as exc:
        print(f"envboard: {exc}", file=sys.stderr)
        return 2
    print(f"removed {args.name} from {args.users}; {_end_sessions(args, args.name)}")
    return 0
