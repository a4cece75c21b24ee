"""The workspace overview: one row per project, filled in as probes finish."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, render_template, request, url_for

from ..core.pages.overview import MAX_QUERY, Filters, Overview, overview
from . import htmx
from .security import permission_problem
from .services import envboard, services

blueprint = Blueprint("overview", __name__)


def _filters() -> Filters:
    args = request.args
    return Filters(q=args.get("q", "")[:MAX_QUERY], mode=args.get("mode", ""), status=args.get("status", ""))


def _context(data: Overview) -> dict:
    """What the page and the rows fragment both render."""
    return {
        "workspace": data.workspace,
        "states": data.states,
        "rows_html": services().rows.render(
            data.states, data.snapshot, services().jobs, data.filters, permission_problem()
        ),
        "total": data.total,
        "filters": data.filters,
        "version": data.version,
        "outdated": data.outdated,
        "isolation": data.report["isolation"],
    }


@blueprint.get("/")
def index():
    data = overview(envboard(), _filters(), count_outdated=True)
    return render_template("overview.html", **_context(data))


@blueprint.get("/fragments/rows")
def rows():
    """The table body alone; 204 (htmx leaves the page alone) when nothing changed."""
    data = overview(envboard(), _filters())
    if htmx.still_current(data.version) and request.args.get("force") is None:
        return htmx.NOTHING_CHANGED
    response = Response(render_template("fragments/rows.html", **_context(data)))
    if request.args.get("force") is not None:  # the filter form: its choice goes into the address
        shown = {key: value for key, value in data.filters.as_json().items() if value}
        htmx.replace_url(response, url_for("overview.index", **shown))
    return response


@blueprint.get("/api/projects")
def api_projects():
    return jsonify(overview(envboard(), _filters()).to_json())
