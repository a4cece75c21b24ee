"""The subcommands that serve the dashboard or change environments."""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import os
import secrets
import sys
import time
from pathlib import Path


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(f"ENVBOARD_{name}", default)


def add_commands(commands, add_common) -> None:
    serve = commands.add_parser(
        "serve",
        help="serve the dashboard with waitress",
        description="Serve the dashboard. Every flag also reads an ENVBOARD_* environment variable.",
    )
    add_common(serve)
    serve.add_argument("--host", default=_env("HOST", "127.0.0.1"), help="bind address (ENVBOARD_HOST)")
    serve.add_argument(
        "--port", type=int, default=int(_env("PORT", "8765")), help="port (ENVBOARD_PORT; default 8765)"
    )
    serve.add_argument(
        "--threads",
        type=int,
        default=int(_env("THREADS", "16")),
        help="waitress worker threads, the requests answered at once; raw logs are sent without "
        "holding one (ENVBOARD_THREADS; default 16)",
    )
    serve.add_argument(
        "--connection-limit",
        type=int,
        default=int(_env("CONNECTION_LIMIT", "1000")),
        help="open connections accepted at once, idle ones included; waitress's own default of 100 "
        "lets 100 idle sockets shut everyone out (ENVBOARD_CONNECTION_LIMIT; default 1000)",
    )
    serve.add_argument(
        "--channel-timeout",
        type=int,
        default=int(_env("CHANNEL_TIMEOUT", "30")),
        help="seconds a connection may stay idle (no request, nothing read) before it is closed "
        "(ENVBOARD_CHANNEL_TIMEOUT; default 30)",
    )
    serve.add_argument(
        "--session-idle",
        type=_duration,
        default=_env("SESSION_IDLE", "12h"),
        help="a browser session ends after this long without a request, e.g. 30m, 12h "
        "(ENVBOARD_SESSION_IDLE; default 12h)",
    )
    serve.add_argument(
        "--session-max-age",
        type=_duration,
        default=_env("SESSION_MAX_AGE", "7d"),
        help="a browser session ends this long after sign-in, in use or not "
        "(ENVBOARD_SESSION_MAX_AGE; default 7d)",
    )
    serve.add_argument(
        "--users", default=_env("USERS"), help="users file: names, roles, token hashes (ENVBOARD_USERS)"
    )
    serve.add_argument(
        "--allow-anonymous-view",
        action="store_true",
        default=_env("ALLOW_ANONYMOUS_VIEW", "") not in ("", "0", "false"),
        help="let people who are not signed in look (as viewers) (ENVBOARD_ALLOW_ANONYMOUS_VIEW)",
    )
    serve.add_argument(
        "--trust-proxy-user-header",
        default=_env("TRUST_PROXY_USER_HEADER"),
        metavar="HEADER",
        help="take the user name from this header set by an authenticating reverse proxy; believed "
        "only on connections from a --trusted-proxy address and never next to a bearer token "
        "(ENVBOARD_TRUST_PROXY_USER_HEADER)",
    )
    serve.add_argument(
        "--trusted-proxy",
        action="append",
        type=_network,
        default=None,
        metavar="ADDR",
        help="address (or network, e.g. 10.0.0.0/24) of the proxy that sets the user header; required "
        "with --trust-proxy-user-header; repeat for several (ENVBOARD_TRUSTED_PROXY, comma-separated)",
    )
    serve.add_argument(
        "--public-url",
        default=_env("PUBLIC_URL"),
        help="the URL people use, e.g. https://envboard.example.com; its host is trusted "
        "(ENVBOARD_PUBLIC_URL)",
    )
    serve.add_argument(
        "--max-jobs", type=int, default=int(_env("MAX_JOBS", "2")), help="syncs at once (ENVBOARD_MAX_JOBS)"
    )
    serve.add_argument(
        "--log-format",
        choices=["text", "json"],
        default=_env("LOG_FORMAT", "text"),
        help="access and job logs on stderr (ENVBOARD_LOG_FORMAT)",
    )
    serve.set_defaults(handler=cmd_serve)

    users = commands.add_parser("users", help="manage the users file")
    users_commands = users.add_subparsers(dest="users_command", required=True)

    def users_parser(name: str, help_text: str, handler, with_name: bool = True):
        parser = users_commands.add_parser(name, help=help_text, description=help_text)
        if with_name:
            parser.add_argument("name")
        parser.add_argument(
            "--users",
            default=_env("USERS"),
            required=_env("USERS") is None,
            help="users file (ENVBOARD_USERS)",
        )
        parser.add_argument(
            "--state-dir",
            default=_env("STATE_DIR"),
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
    users_parser(
        "rotate", "give a user a new token (printed once); ends their sessions", cmd_users_rotate
    )
    users_parser("remove", "remove a user; ends their sessions", cmd_users_remove)

    sync = commands.add_parser("sync", help="uv sync one project, through the same jobs as the dashboard")
    add_common(sync)
    sync.add_argument("project", help="project id, name or path")
    sync.set_defaults(handler=cmd_sync)

    mode = commands.add_parser("mode", help="switch a project's environment mode")
    add_common(mode)
    mode.add_argument("project", help="project id, name or path")
    mode.add_argument("target", choices=["active", "persistent_uv"])
    mode.add_argument("--yes", action="store_true", help="write without asking")
    mode.set_defaults(handler=cmd_mode)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def load_secret_key(state_dir: Path) -> str:
    """Kept across restarts so that open pages and sessions survive a restart."""
    path = state_dir / "secret_key"
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError:
        pass
    key = secrets.token_hex(32)
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(key)
    except FileExistsError:
        return path.read_text(encoding="utf-8").strip()
    except OSError:
        pass  # read-only state dir: sessions last until the next restart
    return key


def trusted_hosts(host: str, public_url: str | None) -> list[str]:
    from urllib.parse import urlsplit

    names = {host.strip("[]")}
    if is_loopback(host):
        names |= {"localhost", "127.0.0.1", "::1"}
    if host in ("0.0.0.0", "::"):
        names = set()  # any interface: only the public URL's host (and loopback) are trusted
        names |= {"localhost", "127.0.0.1", "::1"}
    if public_url:
        names.add(urlsplit(public_url).hostname or "")
    return sorted(n for n in names if n)


def cmd_serve(args: argparse.Namespace) -> int:
    from waitress import serve

    from .cli import settings_from
    from .core.users import UserDirectory, UsersError
    from .web import create_app
    from .web.access_log import configure

    users = None
    if args.users:
        try:
            users = UserDirectory(Path(args.users).expanduser())
        except UsersError as exc:
            print(f"envboard: {exc}", file=sys.stderr)
            return 2
    if users is None and not is_loopback(args.host):
        print(
            f"envboard: refusing to bind {args.host} without a users file: anyone who can reach it could "
            "sync and change environments.\nCreate one and give yourself a token:\n"
            "    envboard users add YOUR_NAME --role operator --users /etc/envboard/users.toml\n"
            "then start again with --users /etc/envboard/users.toml (or ENVBOARD_USERS).",
            file=sys.stderr,
        )
        return 2
    try:
        proxies = args.trusted_proxy or [
            _network(part) for part in (_env("TRUSTED_PROXY") or "").replace(",", " ").split()
        ]
    except argparse.ArgumentTypeError as exc:
        print(f"envboard: ENVBOARD_TRUSTED_PROXY: {exc}", file=sys.stderr)
        return 2
    if args.trust_proxy_user_header and not proxies:
        print(
            "envboard: --trust-proxy-user-header needs --trusted-proxy ADDR (the proxy's address): "
            "otherwise anyone who can reach envboard could name themselves in that header",
            file=sys.stderr,
        )
        return 2
    if args.session_idle > args.session_max_age:
        print("envboard: --session-idle is longer than --session-max-age", file=sys.stderr)
        return 2
    configure(args.log_format)
    settings = settings_from(args)
    app = create_app(
        {
            "ENVBOARD_SETTINGS": settings,
            "ENVBOARD_START_MONITOR": True,
            "ENVBOARD_USERS": users,
            "ENVBOARD_ALLOW_ANONYMOUS_VIEW": args.allow_anonymous_view,
            "ENVBOARD_PROXY_USER_HEADER": args.trust_proxy_user_header,
            "ENVBOARD_TRUSTED_PROXIES": tuple(proxies),
            "ENVBOARD_SESSION_IDLE": args.session_idle,
            "ENVBOARD_SESSION_MAX_AGE": args.session_max_age,
            "ENVBOARD_MAX_JOBS": args.max_jobs,
            "SECRET_KEY": load_secret_key(settings.state_dir),
            "TRUSTED_HOSTS": trusted_hosts(args.host, args.public_url),
            "SESSION_COOKIE_SECURE": bool(args.public_url and args.public_url.startswith("https:")),
        }
    )
    board = app.extensions["envboard.board"]
    from .core.modes import remove_stale_temp_files

    for leftover in remove_stale_temp_files(board.workspace.projects):
        print(f"envboard: removed {leftover}, left by a mode change that was killed mid-write")
    mode = "single-user mode" if users is None else f"users from {args.users}"
    print(f"envboard: workspace {board.workspace.root} ({len(board.workspace.projects)} projects)")
    print(f"envboard: active python {board.active.python} ({board.active.reason})")
    print(f"envboard: serving on http://{args.host}:{args.port}/ ({mode})", flush=True)
    _allow_open_files(args.connection_limit + args.threads + 64)
    serve(
        app,
        host=args.host,
        port=args.port,
        ident="envboard",
        threads=args.threads,
        connection_limit=args.connection_limit,
        channel_timeout=args.channel_timeout,
        cleanup_interval=min(30, max(1, args.channel_timeout // 2)),  # idle sockets go within 1.5x
        asyncore_use_poll=True,  # select() cannot watch more than 1024 sockets
    )
    return 0


def _allow_open_files(wanted: int) -> None:
    """Raise the soft limit on open files so that --connection-limit sockets fit (never above hard)."""
    try:
        import resource
    except ImportError:  # not on this platform
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        with contextlib.suppress(ValueError, OSError):  # keep the limit we have
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def _duration(text: str) -> float:
    from .core.sessions import parse_duration

    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an IP address or network") from None


def _end_sessions(args: argparse.Namespace, name: str) -> str:
    """End the user's sign-in sessions in the state dir a running server reads; says what it did."""
    from .cli import settings_from_state_dir
    from .core.sessions import SessionStore, SessionStoreError

    store = SessionStore(settings_from_state_dir(args.state_dir))
    try:
        ended = store.end_user(name)
    except SessionStoreError as exc:
        return f"their browser sessions could not be ended here: {exc}"
    return f"{ended} browser session{'s' if ended != 1 else ''} ended"


def cmd_users_add(args: argparse.Namespace) -> int:
    from .core.users import UsersError, add_user, list_users

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
    from .core.users import UsersError, list_users

    try:
        users = list_users(Path(args.users).expanduser())
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
    from .core.users import UsersError, rotate_user

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
    from .core.users import UsersError, remove_user

    try:
        remove_user(Path(args.users).expanduser(), args.name)
    except (UsersError, OSError) as exc:
        print(f"envboard: {exc}", file=sys.stderr)
        return 2
    print(f"removed {args.name} from {args.users}; {_end_sessions(args, args.name)}")
    return 0


def _project_or_exit(board, reference: str):
    project = board.workspace.find(reference)
    if project is None:
        known = ", ".join(p.id for p in board.workspace.projects) or "none"
        print(
            f"envboard: no project {reference!r} in {board.workspace.root} (projects: {known})",
            file=sys.stderr,
        )
        raise SystemExit(2)
    return project


def cmd_sync(args: argparse.Namespace) -> int:
    from .cli import settings_from
    from .core.board import Board
    from .core.jobs import JobError, JobManager

    board = Board(settings_from(args))
    jobs = JobManager(board, board.settings.state_dir, max_parallel=1)
    who = os.environ.get("USER", "local")
    record = None
    try:
        project = _project_or_exit(board, args.project)
        try:
            record, _ = jobs.sync(project, who)
        except JobError as exc:
            print(f"envboard: cannot sync {project.id}: {exc}", file=sys.stderr)
            return 2
        print(f"envboard: job {record.id}: sync of {project.id}", file=sys.stderr)
        position = 0
        while True:
            finished = jobs.get(record.id).finished  # read before copying: the tail is never lost
            position = _copy_new_output(record.log_path, position)
            if finished:
                break
            time.sleep(0.1)
        final = jobs.get(record.id)
        print(
            f"envboard: job {record.id} {final.status}" + (f": {final.message}" if final.message else ""),
            file=sys.stderr,
        )
        if final.status == "succeeded":
            return 0
        return final.exit_code or 1
    except KeyboardInterrupt:
        if record is not None:
            jobs.cancel(record.id, who)
            jobs.wait(record.id, timeout=15)
        return 130
    finally:
        jobs.close()
        board.close()


def _copy_new_output(path: str | None, position: int) -> int:
    if not path:
        return position
    with open(path, "rb") as handle:
        handle.seek(position)
        data = handle.read()
    if data:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    return position + len(data)


def cmd_mode(args: argparse.Namespace) -> int:
    from .cli import settings_from
    from .core import modes
    from .core.board import Board
    from .core.jobs import JobError, JobManager

    board = Board(settings_from(args))
    try:
        project = _project_or_exit(board, args.project)
        try:
            change = modes.preview(project, args.target)
        except modes.ModeChangeError as exc:
            print(f"envboard: {exc}", file=sys.stderr)
            return 2
        if not change.changes_anything:
            print(f"{project.id} is already {args.target}; nothing to change.")
            return 0
        print(change.diff, end="")
        if not args.yes:
            if not sys.stdin.isatty():
                print("envboard: not writing without --yes (no terminal to ask)", file=sys.stderr)
                return 2
            if input(f"Write this change to {change.file}? [y/N] ").strip().lower() not in ("y", "yes"):
                print("nothing written")
                return 1
        try:
            modes.apply(change, change.file_hash)
        except modes.ModeChangeError as exc:
            print(f"envboard: {exc}", file=sys.stderr)
            return 2
        try:
            jobs = JobManager(board, board.settings.state_dir)
            jobs.record_mode_change(
                project, os.environ.get("USER", "local"), change.current_mode, args.target, change.diff
            )
            jobs.close()
        except JobError as exc:
            print(f"envboard: warning: the change was written but not recorded: {exc}", file=sys.stderr)
        print(f"{project.id}: mode is now {args.target}")
        return 0
    finally:
        board.close()
