"""JSON twins of the pages, built from the same data (the keys of `envboard list --json`)."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, render_template, request
from flask.globals import request_ctx
from werkzeug.exceptions import HTTPException

from .projects import project_state

blueprint = Blueprint("api", __name__, url_prefix="/api")


def _payload(state) -> dict:
    data = state.to_json()
    data["pending"] = state.pending
    return data


@blueprint.get("/projects")
def projects():
    board = current_app.extensions["envboard.board"]
    states = current_app.extensions["envboard.monitor"].states()
    report = board.report(states, include_version=False)
    report["projects"] = [_payload(s) for s in states]
    return jsonify(report)


@blueprint.get("/projects/<project_id>")
def project(project_id: str):
    return jsonify(_payload(project_state(project_id)))


@blueprint.app_errorhandler(HTTPException)
def http_error(error: HTTPException):
    """JSON for the API (whatever matched, or did not), a page for people."""
    if isinstance(error.response, Response):
        return error.response  # an abort() that already built its answer
    if request.path.startswith("/api/"):
        name = (error.name or "error").lower()
        return jsonify({"error": name, "message": error.description}), error.code
    if request_ctx.url_adapter is None:  # a foreign Host: no URL can be built, so no page either
        return f"{error.code} {error.name}: {error.description}\n", error.code, {"Content-Type": "text/plain"}
    return render_template("error.html", error=error), error.code
