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
