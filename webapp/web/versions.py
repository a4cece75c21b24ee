"""The Versions page: packages by project across the workspace, skew highlighted."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, render_template, request, url_for
from markupsafe import Markup

from ..core.pages import inventory
from ..core.pages.overview import MAX_QUERY
from ..core.pages.versions import versions
from . import htmx
from .services import envboard

blueprint = Blueprint("versions", __name__)


def _table_html(data: inventory.Versions) -> Markup:
    key = (
        data.version,  # the snapshot the matrix was built from, not the one published since
        tuple((s.id, s.project.name) for s in data.states),
        data.filters,
        request.script_root,
    )
    # with a hundred projects the matrix is thousands of cells, and it changes only when a
    # probe answers
    return envboard().renders.get(
        ("versions table", *key), lambda: Markup(render_template("fragments/versions_table.html", data=data))
    )


def _filters() -> inventory.VersionFilters:
    """`?q=` a text in the name; `?all=1` every shared package, else the Dagster family and Python."""
    args = request.args
    if "all" in args:
        scope = inventory.SCOPE_ALL if args.get("all") not in ("0", "") else inventory.SCOPE_DAGSTER
    else:
        scope = inventory.SCOPE_DAGSTER  # the same default for the page, its fragment and its JSON
    return inventory.VersionFilters(q=args.get("q", "")[:MAX_QUERY], scope=scope)


def _context(data: inventory.Versions) -> dict:
    """What the page and its polled fragment both render."""
    return {
        "data": data,
        "filters": data.filters,
        "table_html": _table_html(data) if data.rows else Markup(""),
        # a probe or check is running: its answer (new versions, a project joining) comes soon
        "busy": any(state.pending for state in data.states),
    }


@blueprint.get("/versions")
def index():
    data = versions(envboard(), _filters())
    return render_template("versions.html", **_context(data))


@blueprint.get("/fragments/versions")
def fragment():
    """The counts, notices and matrix alone; 204 (htmx leaves the page alone) when nothing changed."""
    data = versions(envboard(), _filters())
    if htmx.still_current(data.version):
        return htmx.NOTHING_CHANGED
    response = current_app.make_response(render_template("fragments/versions_live.html", **_context(data)))
    if htmx.asked_by("versions-filters"):  # as the user types: the address holds the filter
        htmx.replace_url(response, url_for("versions.index", **_shown(data.filters)))
    return response


def _shown(filters: inventory.VersionFilters) -> dict:
    """The filters as the page's query, the defaults left out."""
    return {"q": filters.q or None, "all": 1 if filters.scope == inventory.SCOPE_ALL else None}


@blueprint.get("/api/versions")
def api_versions():
    """Every shared package unless `?all=0` asks for the Dagster family only."""
    return jsonify(versions(envboard(), _filters()).to_json())
