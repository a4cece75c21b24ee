"""`envboard serve`: the dashboard on waitress, with safe defaults for a shared box."""

from __future__ import annotations

import argparse
import dataclasses
import ipaddress
import os
import secrets
import sys
from pathlib import Path

from .options import add_common, env, settings_from


def add_parsers(commands) -> None:
    serve = commands.add_parser(
        "serve",
        help="serve the dashboard with waitress",
        description="Serve the dashboard. Every flag also reads an ENVBOARD_* environment variable.",
    )
    add_common(serve)
    serve.add_argument("--host", default=env("HOST", "127.0.0.1"), help="bind address (ENVBOARD_HOST)")
    serve.add_argument(
        "--port", type=int, default=int(env("PORT", "8765")), help="port (ENVBOARD_PORT; default 8765)"
    )
    serve.add_argument(
        "--threads",
        type=int,
        default=int(env("THREADS", "16")),
        help="waitress worker threads (ENVBOARD_THREADS; default 16)",
    )
    serve.add_argument(
        "--users", default=env("USERS"), help="users file: names, roles, token hashes (ENVBOARD_USERS)"
    )
    serve.add_argument(
        "--allow-anonymous-view",
        action="store_true",
        default=env("ALLOW_ANONYMOUS_VIEW", "") not in ("", "0", "false"),
        help="let people who are not signed in look (as viewers) (ENVBOARD_ALLOW_ANONYMOUS_VIEW)",
    )
    serve.add_argument(
        "--trust-proxy-user-header",
        default=env("TRUST_PROXY_USER_HEADER"),
        metavar="HEADER",
        help="take the user name from this header set by an authenticating reverse proxy; only use "
        "it when nothing but the proxy can reach envboard (ENVBOARD_TRUST_PROXY_USER_HEADER)",
    )
    serve.add_argument(
        "--public-url",
        default=env("PUBLIC_URL"),
        help="the URL people use, e.g. https://envboard.example.com; its host is trusted "
        "(ENVBOARD_PUBLIC_URL)",
    )
    serve.add_argument(
        "--max-jobs", type=int, default=int(env("MAX_JOBS", "2")), help="syncs at once (ENVBOARD_MAX_JOBS)"
    )
    serve.add_argument(
        "--log-format",
        choices=["text", "json"],
        default=env("LOG_FORMAT", "text"),
        help="access and job logs on stderr (ENVBOARD_LOG_FORMAT)",
    )
    serve.add_argument(
        "--metrics-token",
        default=env("METRICS_TOKEN"),
        help="a scraper sending 'Authorization: Bearer TOKEN' may read /metrics; prefer the variable, "
        "which other users cannot see in the process list (ENVBOARD_METRICS_TOKEN)",
    )
    serve.add_argument(
        "--metrics-public",
        action="store_true",
        default=env("METRICS_PUBLIC", "") not in ("", "0", "false"),
        help="anyone who can reach envboard may read /metrics (ENVBOARD_METRICS_PUBLIC)",
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

    from ..core.users import UserDirectory, UsersError
    from ..web import create_app
    from ..web.access_log import configure
    from ..web.services import EXTENSION

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
    settings = dataclasses.replace(settings_from(args), max_jobs=args.max_jobs)
    app = create_app(
        {
            "ENVBOARD_SETTINGS": settings,
            "ENVBOARD_USERS": users,
            "ENVBOARD_ALLOW_ANONYMOUS_VIEW": args.allow_anonymous_view,
            "ENVBOARD_PROXY_USER_HEADER": args.trust_proxy_user_header,
            "ENVBOARD_METRICS_TOKEN": args.metrics_token or None,
            "ENVBOARD_METRICS_PUBLIC": args.metrics_public,
            "SECRET_KEY": load_secret_key(settings.state_dir),
            "TRUSTED_HOSTS": trusted_hosts(args.host, args.public_url),
            "SESSION_COOKIE_SECURE": bool(args.public_url and args.public_url.startswith("https:")),
        }
    )
    board = app.extensions[EXTENSION].board
    mode = "single-user mode" if users is None else f"users from {args.users}"
    print(f"envboard: workspace {board.workspace.root} ({len(board.workspace.projects)} projects)")
    print(f"envboard: active python {board.active.python} ({board.active.reason})")
    print(f"envboard: serving on http://{args.host}:{args.port}/ ({mode})", flush=True)
    serve(app, host=args.host, port=args.port, threads=args.threads, ident="envboard")
    return 0
