"""The subcommands that serve the dashboard or change environments."""

from __future__ import annotations

import argparse
import ipaddress
import os
import secrets
import sys
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
    serve.set_defaults(handler=cmd_serve)

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


def trusted_hosts(host: str) -> list[str]:
    names = {host.strip("[]")}
    if is_loopback(host):
        names |= {"localhost", "127.0.0.1", "::1"}
    return sorted(names)


def cmd_serve(args: argparse.Namespace) -> int:
    from waitress import serve

    from .cli import settings_from
    from .web import create_app

    if not is_loopback(args.host):
        print(
            f"envboard: refusing to bind {args.host}: only loopback addresses may be served without "
            "a users file. Bind 127.0.0.1, or put envboard behind an authenticating proxy.",
            file=sys.stderr,
        )
        return 2
    settings = settings_from(args)
    app = create_app(
        {
            "ENVBOARD_SETTINGS": settings,
            "ENVBOARD_START_MONITOR": True,
            "SECRET_KEY": load_secret_key(settings.state_dir),
            "TRUSTED_HOSTS": trusted_hosts(args.host),
        }
    )
    board = app.extensions["envboard.board"]
    print(f"envboard: workspace {board.workspace.root} ({len(board.workspace.projects)} projects)")
    print(f"envboard: active python {board.active.python} ({board.active.reason})")
    print(f"envboard: serving on http://{args.host}:{args.port}/ (single-user mode)", flush=True)
    serve(app, host=args.host, port=args.port, threads=args.threads, ident="envboard")
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
    import threading

    from .cli import settings_from
    from .core.board import Board
    from .core.jobs import JobError, JobManager

    board = Board(settings_from(args))
    jobs = JobManager(board, board.settings.state_dir, max_parallel=1)
    try:
        project = _project_or_exit(board, args.project)
        try:
            record, _ = jobs.sync(project, os.environ.get("USER", "local"))
        except JobError as exc:
            print(f"envboard: cannot sync {project.id}: {exc}", file=sys.stderr)
            return 2
        print(f"envboard: job {record.id}: sync of {project.id}", file=sys.stderr)
        done = threading.Event()
        position = 0
        while not done.is_set():
            current = jobs.get(record.id)
            position = _copy_new_output(record.log_path, position)
            if current is None or current.finished:
                position = _copy_new_output(record.log_path, position)
                done.set()
            else:
                done.wait(0.1)
        final = jobs.get(record.id)
        print(
            f"envboard: job {record.id} {final.status}" + (f": {final.message}" if final.message else ""),
            file=sys.stderr,
        )
        if final.status == "succeeded":
            return 0
        return final.exit_code or 1
    except KeyboardInterrupt:
        jobs.cancel(record.id, "local")
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
