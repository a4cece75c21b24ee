"""`envboard users ...`: the users file of names, roles and token hashes, and their sessions."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import click

from ..core.settings import default_state_dir
from .options import CONTEXT, Choice, choice, group, setting


@group("users", help="manage the users file")
def users() -> None:
    pass


def users_command(name: str, help_text: str, with_name: bool = True) -> Callable:
    """A `users` subcommand: the users file, the server's state dir, and the user's NAME."""

    def decorate(function: Callable) -> click.Command:
        function = setting(
            "--state-dir",
            metavar="DIR",
            type=click.Path(file_okay=False),
            help="the server's state dir, whose sign-in sessions are ended",
        )(function)
        function = setting(
            "--users",
            metavar="FILE",
            required=True,
            type=click.Path(dir_okay=False, readable=False),  # the reader says why, with the uid
            help="users file",
        )(function)
        if with_name:
            function = click.argument("name", metavar="NAME")(function)
        return users.command(name, context_settings=CONTEXT, help=help_text)(function)

    return decorate


def _end_sessions(state_dir_given: str | None, name: str) -> str:
    """End the user's sign-in sessions in the state dir a running server reads; says what it did."""
    from ..core.access.sessions import FILE_NAME as SESSIONS_FILE
    from ..core.access.sessions import SessionStore, SessionStoreError

    state_dir = Path(state_dir_given).expanduser() if state_dir_given else default_state_dir()
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


@users_command("add", "add a user; prints their token once")
@choice("--role", type=Choice(["viewer", "operator"]), default="viewer", show_default=True)
@choice(
    "--replace", is_flag=True, help="the name exists: give it this role and a new token, ending its sessions"
)
def users_add(name: str, users: str, state_dir: str | None, role: str, replace: bool) -> int:
    from ..core.access.users import UsersError, add_user, list_users

    path = Path(users).expanduser()
    try:
        existed = any(user.name == name for user in list_users(path))
        token = add_user(path, name, role, replace=replace)
    except (UsersError, OSError) as exc:
        print(f"envboard: {exc}", file=sys.stderr)
        return 2
    verb = "replaced" if existed else "added"
    ended = f"; {_end_sessions(state_dir, name)}" if existed else ""
    print(
        f"{verb} {name} ({role}) in {users}{ended}. Their token, shown only this once:",
        file=sys.stderr,
    )
    print(token)
    return 0


@users_command("list", "list users and roles (tokens are never stored)", with_name=False)
def users_list(users: str, state_dir: str | None) -> int:
    from ..core.access.users import UsersError, list_users

    path = Path(users).expanduser()
    if not path.is_file():
        print(
            f"envboard: users file {users} does not exist; "
            f"create it with `envboard users add NAME --role operator --users {users}`",
            file=sys.stderr,
        )
        return 2
    try:
        listed = list_users(path)
    except UsersError as exc:
        print(f"envboard: {exc}", file=sys.stderr)
        return 2
    if not listed:
        print(f"no users in {users}; add one with `envboard users add NAME --role operator`")
        return 0
    width = max(len(user.name) for user in listed)
    for user in listed:
        print(f"{user.name.ljust(width)}  {user.role}")
    return 0


@users_command("rotate", "give a user a new token (printed once); ends their sessions")
def users_rotate(name: str, users: str, state_dir: str | None) -> int:
    from ..core.access.users import UsersError, rotate_user

    try:
        token = rotate_user(Path(users).expanduser(), name)
    except (UsersError, OSError) as exc:
        print(f"envboard: {exc}", file=sys.stderr)
        return 2
    print(
        f"new token for {name}; the old one no longer works, {_end_sessions(state_dir, name)}. "
        "The new token, shown only this once:",
        file=sys.stderr,
    )
    print(token)
    return 0


@users_command("remove", "remove a user; ends their sessions")
def users_remove(name: str, users: str, state_dir: str | None) -> int:
    from ..core.access.users import UsersError, remove_user

    try:
        remove_user(Path(users).expanduser(), name)
    except (UsersError, OSError) as exc:
        print(f"envboard: {exc}", file=sys.stderr)
        return 2
    print(f"removed {name} from {users}; {_end_sessions(state_dir, name)}")
    return 0


COMMANDS = (users,)
