"""The workspace overview: one row per project, filled in as probes finish."""

from __future__ import annotations

import threading

from flask import Blueprint, current_app, get_template_attribute, render_template, request
from markupsafe import Markup

from ..core.board import ProjectState
from .security import csrf_token, permission_problem

CSRF_PLACEHOLDER = "__envboard_csrf__"

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


class RowCache:
    """Rendered overview rows, reused while nothing a row shows has changed.

    With hundreds of projects and every viewer polling, most rows are identical from one
    answer to the next; the per-session CSRF token is put in after the cache.
    """

    def __init__(self) -> None:
        self._rows: dict[str, tuple[tuple, Markup]] = {}
        self._lock = threading.Lock()

    def render(self, states: list[ProjectState]) -> Markup:
        jobs = current_app.extensions["envboard.jobs"]
        macro = get_template_attribute("fragments/row.html", "project_row")
        problem = permission_problem()
        parts = []
        for state in states:
            running = jobs.active_job(state.id)
            blocked = problem or jobs.can_sync(state.project)
            key = (  # ages are <time> elements the browser keeps current: no re-render per second
                state.fingerprint(),
                (running.id, running.status) if running else None,
                blocked,
                request.script_root,
            )
            with self._lock:
                cached = self._rows.get(state.id)
            if cached is None or cached[0] != key:
                cached = (key, macro(state, CSRF_PLACEHOLDER, running, blocked))
                with self._lock:
                    self._rows[state.id] = cached
            parts.append(cached[1])
        return Markup("".join(parts).replace(CSRF_PLACEHOLDER, csrf_token()))


def _rows_html(states: list[ProjectState]) -> Markup:
    cache = current_app.extensions.setdefault("envboard.row_cache", RowCache())
    return cache.render(states)


def _filters() -> dict[str, str]:
    return {
        "q": request.args.get("q", ""),
        "mode": request.args.get("mode", ""),
        "status": request.args.get("status", ""),
    }


def _table(version: int) -> dict:
    """What the page and the rows fragment both show: the filtered rows."""
    filters = _filters()
    states = monitor().states()
    shown = filtered(states, filters["q"], filters["mode"], filters["status"])
    return {
        "states": shown,
        "rows_html": _rows_html(shown),
        "total": len(states),
        "filters": filters,
        "version": version,
    }


@blueprint.get("/")
def index():
    workspace = current_app.extensions["envboard.board"].workspace
    return render_template("overview.html", workspace=workspace, **_table(monitor().version))


@blueprint.get("/fragments/rows")
def rows():
    """The table body alone; 204 (htmx leaves the page alone) when nothing changed."""
    since = request.args.get("since", type=int)
    version = monitor().version
    if since is not None and since == version and request.args.get("force") is None:
        return "", 204
    return render_template("fragments/rows.html", **_table(version))
