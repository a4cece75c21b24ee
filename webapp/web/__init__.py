"""The web layer: translates requests into core calls and core results into templates."""

from __future__ import annotations

import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask

from ..core.access.sessions import DEFAULT_IDLE, DEFAULT_MAX_AGE, SessionStore
from ..core.app import Envboard
from . import services
from .compiled import COMPILED

PACKAGE = Path(__file__).resolve().parent.parent
# every body envboard accepts is a small form (a token, a mode, a hash): a bigger one is refused
# with 413 by waitress before it is read, and by Flask under any other WSGI server
MAX_REQUEST_BYTES = 64 * 1024


def _asset_folder(name: str) -> str:
    """Installed wheels carry templates/ and static/ inside the package; a checkout beside it."""
    inside = PACKAGE / name
    return str(inside if inside.is_dir() else PACKAGE.parent / name)


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Application factory. `config` needs ENVBOARD_SETTINGS (a core Settings) at least.

    The envboard behind the app (board, monitor, jobs) is built here and started: the
    monitor always runs. Tests pass a short `refresh_interval` in the settings, or
    call `services().monitor.refresh()` to see a change at once.
    """
    app = Flask(
        __name__,
        template_folder=_asset_folder("templates"),
        static_folder=_asset_folder("static"),
        static_url_path="/static",
    )
    app.jinja_options = {**app.jinja_options, "bytecode_cache": COMPILED}  # before jinja_env is built
    app.config.update(
        SECRET_KEY=secrets.token_hex(32),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        # the session record decides when a sign-in ends; re-signing the cookie on every answer
        # cost a sixth of the overview's time under load
        SESSION_REFRESH_EACH_REQUEST=False,
        SESSION_COOKIE_NAME="envboard_session",
        MAX_CONTENT_LENGTH=MAX_REQUEST_BYTES,
        MAX_FORM_MEMORY_SIZE=MAX_REQUEST_BYTES,
        ENVBOARD_SESSION_IDLE=DEFAULT_IDLE,  # seconds without a request before a session ends
        ENVBOARD_SESSION_MAX_AGE=DEFAULT_MAX_AGE,  # seconds after sign-in, whatever happens
        ENVBOARD_TRUSTED_PROXIES=(),  # ip networks whose user header is believed
        ENVBOARD_USERS=None,  # a core UserDirectory; None is single-user mode (loopback only)
        ENVBOARD_TOKEN=None,  # single-user mode: the operator's token (a random one when None)
        ENVBOARD_ALLOW_ANONYMOUS_VIEW=False,
        ENVBOARD_PROXY_USER_HEADER=None,
        ENVBOARD_METRICS_TOKEN=None,  # a scraper sends it as a bearer token to read /metrics
        ENVBOARD_METRICS_PUBLIC=False,  # /metrics readable by anyone who can reach the server
    )
    app.config.update(config or {})
    app.json.sort_keys = False  # keep the order of `envboard list --json`
    core = Envboard(app.config["ENVBOARD_SETTINGS"])
    sessions = SessionStore(
        core.settings.state_dir, app.config["ENVBOARD_SESSION_IDLE"], app.config["ENVBOARD_SESSION_MAX_AGE"]
    )
    web = services.init_app(app, core, sessions)
    # the signed cookie lives as long as the longest session could; the record decides before that
    app.permanent_session_lifetime = timedelta(seconds=app.config["ENVBOARD_SESSION_MAX_AGE"])

    from . import (
        access_log,
        actions,
        auth,
        errors,
        front,
        jobs,
        metrics,
        modes,
        openapi,
        ops,
        overview,
        presenters,
        projects,
        security,
        upgrades,
        versions,
    )

    app.session_interface = front.RememberedCookies()
    access_log.init_app(app)
    metrics.init_app(app)
    security.init_app(app)
    presenters.init_app(app)
    errors.init_app(app)
    for area in (auth, ops, openapi, overview, projects, modes, jobs, actions, versions, upgrades, metrics):
        app.register_blueprint(area.blueprint)
    # Templates are compiled when first rendered, each once per process (COMPILED): compiling all
    # of them here cost 0.15 s of CPU at every start, mostly for pages that server never showed;
    # a first page now compiles its own few (a few ms each). A test compiles every one.
    # the overview's rows are rendered in the background as each snapshot is published
    render_ahead = web.rows.render_ahead(app, core.jobs, core.monitor.stopped)
    core.monitor.publish_listeners.append(render_ahead)
    render_ahead(core.monitor.snapshot)
    # the overview and its poll answered from what Flask answered before (web/front.py)
    app.wsgi_app = front.Front(app, app.wsgi_app)
    # started last, when every listener (metrics, rows) is in place: a probe that ends at once is counted
    core.start()
    return app
