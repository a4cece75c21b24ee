"""`envboard serve`: the dashboard on waitress, with safe defaults for a shared box."""

from __future__ import annotations

import argparse
import dataclasses
import ipaddress
import sys
from pathlib import Path
from urllib.parse import urlencode

from ..core.access.sessions import parse_duration
from ..core.disk.files import remove_stale_temp_files
from ..serving import serve_until_stopped
from .hosting import (
    allow_open_files,
    bind_problem,
    is_loopback,
    load_secret_key,
    public_url_warning,
    single_user_token,
    trusted_hosts,
)
from .options import add_common, at_least_one, env, http_url, port, settings_from, whole_number


def add_parsers(commands) -> None:
    serve = commands.add_parser(
        "serve",
        help="serve the dashboard with waitress",
        description="Serve the dashboard. Every flag also reads an ENVBOARD_* environment variable.",
    )
    add_common(serve)
    serve.add_argument("--host", default=env("HOST", "127.0.0.1"), help="bind address (ENVBOARD_HOST)")
    serve.add_argument(
        "--port", type=port, default=env("PORT", "8765"), help="port (ENVBOARD_PORT; default 8765)"
    )
    serve.add_argument(
        "--threads",
        type=at_least_one,
        default=env("THREADS", "16"),
        help="waitress worker threads, the requests answered at once; raw logs are sent without "
        "holding one (ENVBOARD_THREADS; default 16)",
    )
    serve.add_argument(
        "--connection-limit",
        type=at_least_one,
        default=env("CONNECTION_LIMIT", "1000"),
        help="open connections accepted at once, idle ones included; waitress's own default of 100 "
        "lets 100 idle sockets shut everyone out (ENVBOARD_CONNECTION_LIMIT; default 1000)",
    )
    serve.add_argument(
        "--channel-timeout",
        type=at_least_one,
        default=env("CHANNEL_TIMEOUT", "30"),
        help="seconds a connection may stay idle (no request, nothing read) before it is closed, and "
        "the time a request has to arrive whole (ENVBOARD_CHANNEL_TIMEOUT; default 30)",
    )
    serve.add_argument(
        "--connections-per-address",
        type=whole_number,
        default=env("CONNECTIONS_PER_ADDRESS", "100"),
        help="open connections one client address may hold (a --trusted-proxy's are not limited); with "
        "a request's deadline of --channel-timeout seconds, which a trickle of bytes does not reset, one "
        "address cannot shut everyone out (ENVBOARD_CONNECTIONS_PER_ADDRESS; default 100; 0: no limit)",
    )
    serve.add_argument(
        "--session-idle",
        type=_duration,
        default=env("SESSION_IDLE", "12h"),
        help="a browser session ends after this long without a request, e.g. 30m, 12h "
        "(ENVBOARD_SESSION_IDLE; default 12h)",
    )
    serve.add_argument(
        "--session-max-age",
        type=_duration,
        default=env("SESSION_MAX_AGE", "7d"),
        help="a browser session ends this long after sign-in, in use or not "
        "(ENVBOARD_SESSION_MAX_AGE; default 7d)",
    )
    serve.add_argument(
        "--users", default=env("USERS"), help="users file: names, roles, token hashes (ENVBOARD_USERS)"
    )
    serve.add_argument(
        "--token",
        default=None,
        help="single-user mode: the token that lets a browser act (through the link printed at start) "
        "and scripts (Authorization: Bearer TOKEN); without it a new random one at each start; prefer "
        "the variable, which other users cannot see in the process list (ENVBOARD_TOKEN)",
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
        type=http_url,
        default=env("PUBLIC_URL"),
        help="the URL people use, e.g. https://envboard.example.com; its host is trusted "
        "(ENVBOARD_PUBLIC_URL)",
    )
    serve.add_argument(
        "--max-jobs",
        type=at_least_one,
        default=env("MAX_JOBS", "2"),
        help="syncs at once (ENVBOARD_MAX_JOBS; default 2)",
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
    serve.add_argument(
        "--dagster-url",
        type=http_url,
        default=env("DAGSTER_URL"),
        metavar="URL",
        help="a running Dagster webserver (dagster-webserver, dg dev), e.g. http://127.0.0.1:3000: after a "
        "sync, or a check that loads, envboard asks it to reload the project's code location, and the "
        "project page shows its load status too (ENVBOARD_DAGSTER_URL)",
    )
    serve.set_defaults(handler=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    from ..core.access.users import UserDirectory, UsersError
    from ..web import MAX_REQUEST_BYTES, create_app
    from ..web.access_log import configure
    from ..web.services import EXTENSION

    users = None
    if args.users:
        try:
            users = UserDirectory(Path(args.users).expanduser())
        except UsersError as exc:
            print(f"envboard: {exc}", file=sys.stderr)
            return 2
    if users is not None and args.token:
        print(
            "envboard: --token is for single-user mode; with --users each user has their own", file=sys.stderr
        )
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
            _network(part) for part in (env("TRUSTED_PROXY") or "").replace(",", " ").split()
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
    settings = dataclasses.replace(
        settings_from(args),
        max_jobs=args.max_jobs,
        dagster_url=args.dagster_url or None,
        private_paths=(Path(args.users).expanduser(),) if args.users else (),  # hidden from project code
    )
    token = None
    if users is None:  # the single operator's token, printed in the link below
        try:
            token = single_user_token(settings.state_dir, args.token or env("TOKEN") or None)
        except ValueError as exc:
            print(f"envboard: {exc}", file=sys.stderr)
            return 2
    problem = bind_problem(args.host, args.port)
    if problem:
        print(f"envboard: {problem}", file=sys.stderr)
        return 2
    configure(args.log_format)
    app = create_app(
        {
            "ENVBOARD_SETTINGS": settings,
            "ENVBOARD_USERS": users,
            "ENVBOARD_TOKEN": token,
            "ENVBOARD_ALLOW_ANONYMOUS_VIEW": args.allow_anonymous_view,
            "ENVBOARD_PROXY_USER_HEADER": args.trust_proxy_user_header,
            "ENVBOARD_TRUSTED_PROXIES": tuple(proxies),
            "ENVBOARD_SESSION_IDLE": args.session_idle,
            "ENVBOARD_SESSION_MAX_AGE": args.session_max_age,
            "ENVBOARD_METRICS_TOKEN": args.metrics_token or None,
            "ENVBOARD_METRICS_PUBLIC": args.metrics_public,
            "SECRET_KEY": load_secret_key(settings.state_dir),
            "TRUSTED_HOSTS": trusted_hosts(args.host, args.public_url),
            "SESSION_COOKIE_SECURE": bool(args.public_url and args.public_url.startswith("https:")),
        }
    )
    envboard = app.extensions[EXTENSION].core
    board = envboard.board
    for leftover in remove_stale_temp_files(project.path for project in board.workspace.projects):
        print(f"envboard: removed {leftover}, left by a mode change that was killed mid-write")

    def announce() -> None:
        mode = "single-user mode" if users is None else f"users from {args.users}"
        count = len(board.workspace.projects)
        print(f"envboard: workspace {board.workspace.root} ({count} project{'' if count == 1 else 's'})")
        print(f"envboard: active python {board.active.python} ({board.active.reason})")
        url = f"http://{args.host}:{args.port}/"
        if token is None:
            print(f"envboard: serving on {url} ({mode})", flush=True)
        else:  # the link is the way to act; without its token the board is read-only
            link = f"{url}?{urlencode({'token': token})}"
            print(
                f"envboard: serving on {link} ({mode}: open this link to act; without it, look only)",
                flush=True,
            )
        warning = public_url_warning(args.host, args.public_url, args.port)
        if warning:
            print(f"envboard: {warning}", file=sys.stderr, flush=True)

    allow_open_files(args.connection_limit + args.threads + 64)
    try:
        # SIGTERM/SIGINT: no new connections, running jobs interrupted and recorded, exit 0
        return serve_until_stopped(
            app,
            envboard.jobs,
            on_ready=announce,
            on_stop=[envboard.close],  # the monitor, then probes and checks still running
            host=args.host,
            port=args.port,
            threads=args.threads,
            connection_limit=args.connection_limit,
            per_address=args.connections_per_address,
            exempt=proxies,  # everybody comes through a proxy's address
            channel_timeout=args.channel_timeout,
            cleanup_interval=min(30, max(1, args.channel_timeout // 2)),  # idle sockets go within 1.5x
            asyncore_use_poll=True,  # select() cannot watch more than 1024 sockets
            # forms are small: a larger body is refused (413) before it is read or buffered to disk
            max_request_body_size=MAX_REQUEST_BYTES,
        )
    except OSError as exc:  # the port was taken between the check and the bind
        envboard.close()
        print(f"envboard: {bind_problem(args.host, args.port, exc)}", file=sys.stderr)
        return 2


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an IP address or network") from None
