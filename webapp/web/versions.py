"""The Versions page: packages by project across the workspace, skew highlighted."""

from __future__ import annotations

from flask import Blueprint, jsonify, render_template, request

from ..core import resources
from .services import envboard

blueprint = Blueprint("versions", __name__)


def _filters(default_scope: str) -> resources.VersionFilters:
    """`?q=` a text in the name; `?all=1` every shared package, else the Dagster family and Python."""
    args = request.args
    if "all" in args:
        scope = resources.SCOPE_ALL if args.get("all") not in ("0", "") else resources.SCOPE_DAGSTER
    else:
        scope = default_scope
    return resources.VersionFilters(q=args.get("q", "")[:200], scope=scope)


@blueprint.get("/versions")
def index():
    data = resources.versions(envboard(), _filters(resources.SCOPE_DAGSTER))
    return render_template("versions.html", data=data, filters=data.filters)


@blueprint.get("/api/versions")
def api_versions():
    """Every shared package unless `?all=0` asks for the Dagster family only."""
    return jsonify(resources.versions(envboard(), _filters(resources.SCOPE_ALL)).to_json())
