"""JSON twins of the pages, built from the same data (the keys of `envboard list --json`)."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify

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


@blueprint.errorhandler(404)
def not_found(error):
    return jsonify({"error": "not found", "message": getattr(error, "description", str(error))}), 404
