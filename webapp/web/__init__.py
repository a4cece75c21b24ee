"""The web layer: translates requests into core calls and core results into templates."""

from __future__ import annotations

import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask

from ..core.services import Envboard
from . import services

PACKAGE = Path(__file__).resolve().parent.parent


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
    app.config.update(
        SECRET_KEY=secrets.token_hex(32),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_NAME="envboard_session",
        PERMANENT_SESSION_LIFETIME=timedelta(days=30),
        ENVBOARD_USERS=None,  # a core UserDirectory; None is single-user mode (loopback only)
        ENVBOARD_ALLOW_ANONYMOUS_VIEW=False,
        ENVBOARD_PROXY_USER_HEADER=None,
        ENVBOARD_METRICS_TOKEN=None,  # a scraper sends it as a bearer token to read /metrics
        ENVBOARD_METRICS_PUBLIC=False,  # /metrics readable by anyone who can reach the server
    )
    app.config.update(config or {})
    app.json.sort_keys = False  # keep the order of `envboard list --json`
    core = Envboard(app.config["ENVBOARD_SETTINGS"])
    web = services.init_app(app, core)
    core.start()

    from . import (
        access_log,
        auth,
        errors,
        jobs,
        metrics,
        modes,
        openapi,
        ops,
        overview,
        presenters,
        projects,
        security,
    )

    access_log.init_app(app)
    metrics.init_app(app)
    security.init_app(app)
    presenters.init_app(app)
    errors.init_app(app)
    for area in (auth, ops, openapi, overview, projects, modes, jobs, metrics):
        app.register_blueprint(area.blueprint)
    for name in app.jinja_env.list_templates(extensions=["html"]):
        app.jinja_env.get_template(name)  # compile now, not during somebody's first page load
    # the overview's rows are rendered in the background as each snapshot is published
    render_ahead = web.rows.render_ahead(app, core.jobs)
    core.monitor.publish_listeners.append(render_ahead)
    render_ahead(core.monitor.snapshot)
    return app
