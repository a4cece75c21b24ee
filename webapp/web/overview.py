"""The workspace overview: one row per project, filled in as probes finish.

The page and the rows fragment are served from bytes encoded once (web/encoded.py): the
rows (rows.RowCache, the same for every viewer of a snapshot) between a small head and
tail rendered for the viewer (identity, CSRF token, filters), kept while those stay the
same. A request that finds its answer kept does no rendering, encoding or compressing.
"""

from __future__ import annotations

from flask import Blueprint, Response, g, jsonify, render_template, request, session, url_for
from markupsafe import Markup

from ..core.pages.overview import MAX_QUERY, Filters, Overview, overview, overview_version
from . import htmx
from .encoded import Answer, Encoded, respond
from .security import csrf_token, permission_problem
from .services import envboard, services

blueprint = Blueprint("overview", __name__)

# where the shared rows go: every text around it is escaped, so it occurs once, here
ROWS_HERE = Markup("<!--envboard:rows-->")


def _filters() -> Filters:
    args = request.args
    return Filters(q=args.get("q", "")[:MAX_QUERY], mode=args.get("mode", ""), status=args.get("status", ""))


def _context(data: Overview) -> dict:
    """What the page and the rows fragment both render (the rows go in at ROWS_HERE)."""
    return {
        "workspace": data.workspace,
        "states": data.states,
        "rows_html": ROWS_HERE,
        "total": data.total,
        "filters": data.filters,
        "version": data.version,
        "outdated": data.outdated,
        "isolation": data.report["isolation"],
    }


def _answer(template: str, data: Overview, viewer: tuple, **extra) -> Response:
    """`template` around the shared rows, kept under everything the text around them shows."""
    problem = permission_problem()
    table = services().rows.table(data.states, data.snapshot, services().jobs, data.filters, problem)
    # the table object stands for its rows: the same object while they stay the same
    key = (template, table, data.version, data.filters, data.total, data.outdated, request.script_root)
    key += data.page_facts  # the workspace's error and the isolation notice, which no version counts
    key += viewer + tuple(extra.items())
    flashes = session.get("_flashes")  # shown once, so never kept
    answer = None if flashes else services().answers.get(key)
    if answer is None:
        text = render_template(template, **_context(data), **extra)
        head, here, tail = text.partition(ROWS_HERE)
        answer = Answer((Encoded(head), table, Encoded(tail)) if here else (Encoded(text),))
        if not flashes:
            services().answers.put(key, answer, answer.raw_length)
    # what a poll that sends this token back was shown: its next answer carries only what changed
    services().shown.put((data.version, data.filters, problem, request.script_root), table, len(table.raw))
    return respond(answer)


def _changed_rows(data: Overview, since: str) -> list[Markup] | None:
    """The rows that differ from those shown at `since`, marked to be swapped by id; None when
    that is not known or rows came, went or moved (then the whole body goes)."""
    problem = permission_problem()
    shown = services().shown.get((since, data.filters, problem, request.script_root))
    table = services().rows.table(data.states, data.snapshot, services().jobs, data.filters, problem)
    if shown is None or [pid for pid, _ in shown.rows] != [pid for pid, _ in table.rows]:
        return None
    return [
        # the row's own start tag (str: Markup.replace would escape the new attribute)
        Markup(str.replace(html, '<tr id="', '<tr hx-swap-oob="true" id="', 1))
        for (_, html), (_, before) in zip(table.rows, shown.rows, strict=True)
        if html is not before and html != before
    ]


@blueprint.get("/")
def index():
    data = overview(envboard(), _filters(), count_outdated=True)
    user = g.get("user")
    # what the page shows of its viewer: who, what they may do, their session's CSRF token
    viewer = (user.name if user else None, user.role if user else None, permission_problem(), csrf_token())
    return _answer("overview.html", data, viewer)


@blueprint.get("/fragments/rows")
def rows():
    """The table body alone; for a poll (`since=`) only what changed, 204 when nothing did."""
    forced = request.args.get("force") is not None
    since = request.args.get("since")
    if not forced and htmx.still_current(overview_version(envboard())):
        return htmx.NOTHING_CHANGED  # decided before any per-project work: most polls end here
    data = overview(envboard(), _filters())
    if since is not None and not forced:
        changed = _changed_rows(data, since)
        return _answer("fragments/rows_changed.html", data, (permission_problem(),), changed=_frozen(changed))
    response = _answer("fragments/rows_fragment.html", data, (permission_problem(),))
    if forced:  # the filter form: its choice goes into the address
        shown = {key: value for key, value in data.filters.as_json().items() if value}
        htmx.replace_url(response, url_for("overview.index", **shown))
    return response


def _frozen(rows: list[Markup] | None) -> tuple[Markup, ...] | None:
    return None if rows is None else tuple(rows)  # part of the answer's key


@blueprint.get("/api/projects")
def api_projects():
    return jsonify(overview(envboard(), _filters()).to_json())
