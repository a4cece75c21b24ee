"""The subcommands that serve the dashboard or change environments."""

from __future__ import annotations

import argparse
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
        help="waitress worker threads (ENVBOARD_THREADS; default 16)",
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
        help="take the user name from this header set by an authenticating reverse proxy; only use "
        "it when nothing but the proxy can reach envboard (ENVBOARD_TRUST_PROXY_USER_HEADER)",
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
    add = users_commands.add_parser("add", help="add a user (or give one a new token); prints the token once")
    add.add_argument("name")
    add.add_argument("--role", choices=["viewer", "operator"], default="viewer")
    add.add_argument(
        "--users", default=_env("USERS"), required=_env("USERS") is None, help="users file (ENVBOARD_USERS)"
    )
    add.set_defaults(handler=cmd_users_add)

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
    configure(args.log_format)
    settings = settings_from(args)
    app = create_app(
        {
            "ENVBOARD_SETTINGS": settings,
            "ENVBOARD_START_MONITOR": True,
            "ENVBOARD_USERS": users,
            "ENVBOARD_ALLOW_ANONYMOUS_VIEW": args.allow_anonymous_view,
            "ENVBOARD_PROXY_USER_HEADER": args.trust_proxy_user_header,
            "ENVBOARD_MAX_JOBS": args.max_jobs,
            "SECRET_KEY": load_secret_key(settings.state_dir),
            "TRUSTED_HOSTS": trusted_hosts(args.host, args.public_url),
            "SESSION_COOKIE_SECURE": bool(args.public_url and args.public_url.startswith("https:")),
        }
    )
    board = app.extensions["envboard.board"]
    mode = "single-user mode" if users is None else f"users from {args.users}"
    print(f"envboard: workspace {board.workspace.root} ({len(board.workspace.projects)} projects)")
    print(f"envboard: active python {board.active.python} ({board.active.reason})")
    print(f"envboard: serving on http://{args.host}:{args.port}/ ({mode})", flush=True)
    from .serving import serve_until_stopped  # SIGTERM/SIGINT: jobs interrupted and recorded, exit 0

    stops = [app.extensions["envboard.monitor"].stop, board.close]
    jobs = app.extensions["envboard.jobs"]
    return serve_until_stopped(app, jobs, on_stop=stops, host=args.host, port=args.port, threads=args.threads)


def cmd_users_add(args: argparse.Namespace) -> int:
    from .core.users import UsersError, add_user

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
