"""Health endpoints for a process manager or a container runtime."""

from __future__ import annotations

import os

from flask import Blueprint, jsonify

from .services import services

blueprint = Blueprint("ops", __name__)


@blueprint.get("/healthz")
def healthz():
    return jsonify({"status": "ok"})


@blueprint.get("/readyz")
def readyz():
    core = services().core
    state_dir = core.settings.state_dir
    problem = core.history.health()  # a real write and SQLite's check: a full or corrupt state dir
    checks = {
        "workspace_readable": os.access(core.board.workspace.root, os.R_OK | os.X_OK),
        "state_dir_writable": state_dir.is_dir() and os.access(state_dir, os.W_OK | os.X_OK),
        "history_usable": core.history.unavailable is None and problem is None,
    }
    ready = all(checks.values())
    body = {"status": "ready" if ready else "not ready", **checks}
    if problem:
        body["reason"] = problem
    return jsonify(body), 200 if ready else 503
