"""`envboard serve`: the dashboard on waitress, with safe defaults for a shared box."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlencode

import click
from click.core import ParameterSource

from .options import (
    Choice,
    Common,
    Duration,
    HttpUrl,
    Network,
    command,
    common_options,
    dagster_url_option,
    setting,
    settings_from,
)


@command(
    "serve",
    short_help="serve the dashboard with waitress",
    help="Serve the dashboard with waitress. Every option also reads the ENVBOARD_* variable named "
    "beside it (the flag wins).",
)
@common_options
@setting("--host", metavar="ADDR", default="127.0.0.1", show_default=True, help="bind address")
@setting(
    "--port",
    metavar="PORT",
    type=click.IntRange(0, 65535),
    default=8765,
    show_default=True,
    help="port (0: any free one)",
)
# 8, not more: envboard's requests are short and hold the interpreter's lock, so threads beyond a
# few add no work done, only turns to wait. On a 2-core box 8 answered the overview faster than
# 16 (signed in, 64 clients: 2,262 against 1,880 req/s, p99 71 against 105 ms), and 4 no better
# than 8. The threads a request may hold longer (at most 3 mode previews and 2 upgrade plans,
# viewers waiting for one render of a new snapshot) leave the rest free; slow clients hold
# sockets, not threads.
@setting(
    "--threads",
    metavar="N",
    type=click.IntRange(min=1),
    default=8,
    show_default=True,
    help="waitress worker threads, the requests answered at once; raw logs are sent without holding one",
)
@setting(
    "--connection-limit",
    metavar="N",
    type=click.IntRange(min=1),
    default=1000,
    show_default=True,
    help="open connections accepted at once, idle ones included; waitress's own default of 100 lets "
    "100 idle sockets shut everyone out",
)
@setting(
    "--channel-timeout",
    metavar="SECONDS",
    type=click.IntRange(min=1),
    default=30,
    show_default=True,
    help="seconds a connection may stay idle (no request, nothing read) before it is closed, and the "
    "time a request has to arrive whole",
)
@setting(
    "--connections-per-address",
    metavar="N",
    type=click.IntRange(min=0),
    default=100,
    show_default=True,
    help="open connections one client address may hold (a --trusted-proxy's are not limited; 0: no "
    "limit); with a request's deadline of --channel-timeout seconds, which a trickle of bytes does not "
    "reset, one address cannot shut everyone out",
)
@setting(
    "--session-idle",
    type=Duration(),
    default="12h",
    show_default=True,
    help="a browser session ends after this long without a request, e.g. 30m, 12h",
)
@setting(
    "--session-max-age",
    type=Duration(),
    default="7d",
    show_default=True,
    help="a browser session ends this long after sign-in, in use or not",
)
@setting(
    "--users",
    metavar="FILE",
    type=click.Path(dir_okay=False, readable=False),  # the reader says why, naming the uid
    help="users file: names, roles, token hashes",
)
@setting(
    "--token",
    metavar="TOKEN",
    help="single-user mode: the token that lets a browser act (through the link printed at start) and "
    "scripts (Authorization: Bearer TOKEN); without it a new random one at each start; prefer the "
    "variable, which other users cannot see in the process list",
)
@setting("--allow-anonymous-view", is_flag=True, help="let people who are not signed in look (as viewers)")
@setting(
    "--trust-proxy-user-header",
    metavar="HEADER",
    help="take the user name from this header set by an authenticating reverse proxy; believed only on "
    "connections from a --trusted-proxy address and never next to a bearer token",
)
@setting(
    "--trusted-proxy",
    multiple=True,
    type=Network(),
    help="address (or network, e.g. 10.0.0.0/24) of the proxy that sets the user header; required "
    "with --trust-proxy-user-header; repeat for several (the variable: comma-separated)",
)
@setting(
    "--public-url",
    type=HttpUrl(),
    help="the URL people use, e.g. https://envboard.example.com; its host is trusted",
)
@setting(
    "--max-jobs", metavar="N", type=click.IntRange(min=1), default=2, show_default=True, help="syncs at once"
)
@setting(
    "--log-format",
    type=Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="access and job logs on stderr",
)
@setting(
    "--metrics-token",
    metavar="TOKEN",
    help="a scraper sending 'Authorization: Bearer TOKEN' may read /metrics; prefer the variable, which "
    "other users cannot see in the process list",
)
@setting("--metrics-public", is_flag=True, help="anyone who can reach envboard may read /metrics")
@dagster_url_option
def serve(common: Common, **given: Any) -> int:
    from ..core.access.users import UserDirectory, UsersError
    from ..core.disk.files import remove_stale_temp_files
    from ..serving import serve_until_stopped
    from ..web import MAX_REQUEST_BYTES, create_app
    from ..web.access_log import configure
    from ..web.services import EXTENSION
    from .hosting import (
        allow_open_files,
        bind_problem,
        is_loopback,
        load_secret_key,
        public_url_warning,
        single_user_token,
        trusted_hosts,
    )

    flags = SimpleNamespace(**given)

    if flags.trust_proxy_user_header and not flags.trusted_proxy:
        raise click.UsageError(
            "--trust-proxy-user-header needs --trusted-proxy ADDR (the proxy's address): "
            "otherwise anyone who can reach envboard could name themselves in that header"
        )
    if flags.session_idle > flags.session_max_age:
        raise click.UsageError("--session-idle is longer than --session-max-age")
    users = None
    if flags.users:
        try:
            users = UserDirectory(Path(flags.users).expanduser())
        except UsersError as exc:
            print(f"envboard: {exc}", file=sys.stderr)
            return 2
    from_flag = click.get_current_context().get_parameter_source("token") is ParameterSource.COMMANDLINE
    if users is not None and flags.token and from_flag:  # ENVBOARD_TOKEN may be there for curl
        print(
            "envboard: --token is for single-user mode; with --users each user has their own", file=sys.stderr
        )
        return 2
    if users is None and not is_loopback(flags.host):
        print(
            f"envboard: refusing to bind {flags.host} without a users file: anyone who can reach it could "
            "sync and change environments.\nCreate one and give yourself a token:\n"
            "    envboard users add YOUR_NAME --role operator --users /etc/envboard/users.toml\n"
            "then start again with --users /etc/envboard/users.toml (or ENVBOARD_USERS).",
            file=sys.stderr,
        )
        return 2
    proxies = list(flags.trusted_proxy)
    settings = dataclasses.replace(
        settings_from(common),
        max_jobs=flags.max_jobs,
        dagster_url=flags.dagster_url or None,
        private_paths=(Path(flags.users).expanduser(),) if flags.users else (),  # hidden from project code
    )
    token = None
    if users is None:  # the single operator's token, printed in the link below
        try:
            token = single_user_token(settings.state_dir, flags.token)
        except ValueError as exc:
            print(f"envboard: {exc}", file=sys.stderr)
            return 2
    problem = bind_problem(flags.host, flags.port)
    if problem:
        print(f"envboard: {problem}", file=sys.stderr)
        return 2
    configure(flags.log_format)
    app = create_app(
        {
            "ENVBOARD_SETTINGS": settings,
            "ENVBOARD_USERS": users,
            "ENVBOARD_TOKEN": token,
            "ENVBOARD_ALLOW_ANONYMOUS_VIEW": flags.allow_anonymous_view,
            "ENVBOARD_PROXY_USER_HEADER": flags.trust_proxy_user_header,
            "ENVBOARD_TRUSTED_PROXIES": tuple(proxies),
            "ENVBOARD_SESSION_IDLE": flags.session_idle,
            "ENVBOARD_SESSION_MAX_AGE": flags.session_max_age,
            "ENVBOARD_METRICS_TOKEN": flags.metrics_token or None,
            "ENVBOARD_METRICS_PUBLIC": flags.metrics_public,
            "SECRET_KEY": load_secret_key(settings.state_dir),
            "TRUSTED_HOSTS": trusted_hosts(flags.host, flags.public_url),
            "SESSION_COOKIE_SECURE": bool(flags.public_url and flags.public_url.startswith("https:")),
        }
    )
    envboard = app.extensions[EXTENSION].core
    board = envboard.board
    for leftover in remove_stale_temp_files(project.path for project in board.workspace.projects):
        print(f"envboard: removed {leftover}, left by a mode change that was killed mid-write")

    def announce(port: int) -> None:  # the port listened on: --port 0 lets the system choose
        mode = "single-user mode" if users is None else f"users from {flags.users}"
        count = len(board.workspace.projects)
        print(f"envboard: workspace {board.workspace.root} ({count} project{'' if count == 1 else 's'})")
        print(f"envboard: active python {board.active.python} ({board.active.reason})")
        url = f"http://{flags.host}:{port}/"
        if token is None:
            print(f"envboard: serving on {url} ({mode})", flush=True)
        else:  # the link is the way to act; without its token the board is read-only
            link = f"{url}?{urlencode({'token': token})}"
            print(
                f"envboard: serving on {link} ({mode}: open this link to act; without it, look only)",
                flush=True,
            )
        warning = public_url_warning(flags.host, flags.public_url, port)
        if warning:
            print(f"envboard: {warning}", file=sys.stderr, flush=True)

    allow_open_files(flags.connection_limit + flags.threads + 64)
    try:
        # SIGTERM/SIGINT: no new connections, running jobs interrupted and recorded, exit 0
        return serve_until_stopped(
            app,
            envboard.jobs,
            on_ready=announce,
            on_stop=[envboard.close],  # the monitor, then probes and checks still running
            host=flags.host,
            port=flags.port,
            threads=flags.threads,
            connection_limit=flags.connection_limit,
            per_address=flags.connections_per_address,
            exempt=proxies,  # everybody comes through a proxy's address
            channel_timeout=flags.channel_timeout,
            cleanup_interval=min(30, max(1, flags.channel_timeout // 2)),  # idle sockets go within 1.5x
            asyncore_use_poll=True,  # select() cannot watch more than 1024 sockets
            # forms are small: a larger body is refused (413) before it is read or buffered to disk
            max_request_body_size=MAX_REQUEST_BYTES,
        )
    except OSError as exc:  # the port was taken between the check and the bind
        envboard.close()
        print(f"envboard: {bind_problem(flags.host, flags.port, exc)}", file=sys.stderr)
        return 2


COMMANDS = (serve,)
