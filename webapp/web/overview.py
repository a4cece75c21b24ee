"""The workspace overview: one row per project, filled in as probes finish."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, request

from ..core.board import ProjectState

blueprint = Blueprint("overview", __name__)


def monitor():
    return current_app.extensions["envboard.monitor"]


def filtered(states: list[ProjectState], query: str, mode: str, status: str) -> list[ProjectState]:
    query = query.strip().lower()
    chosen = []
    for state in states:
        project = state.project
        if query and query not in project.name.lower() and query not in project.rel_path.lower():
            continue
        if mode and (project.mode.mode if project.mode else "") != mode:
            continue
        if status and state.status_name != status:
            continue
        chosen.append(state)
    return chosen


def _filters() -> dict[str, str]:
    return {
        "q": request.args.get("q", ""),
        "mode": request.args.get("mode", ""),
        "status": request.args.get("status", ""),
    }


@blueprint.get("/")
def index():
    filters = _filters()
    states = monitor().states()
    shown = filtered(states, filters["q"], filters["mode"], filters["status"])
    return render_template(
        "overview.html",
        states=shown,
        total=len(states),
        filters=filters,
        version=monitor().version,
        workspace=current_app.extensions["envboard.board"].workspace,
    )


@blueprint.get("/fragments/rows")
def rows():
    """The table body alone; 204 (htmx leaves the page alone) when nothing changed."""
    filters = _filters()
    since = request.args.get("since", type=int)
    version = monitor().version
    if since is not None and since == version and request.args.get("force") is None:
        return "", 204
    states = monitor().states()
    shown = filtered(states, filters["q"], filters["mode"], filters["status"])
    return render_template(
        "fragments/rows.html", states=shown, total=len(states), filters=filters, version=version
    )
