"""How core facts read on a page: times, counts, paths, labels. No logic about environments."""

from __future__ import annotations

import re
from datetime import datetime

from flask import Flask
from markupsafe import Markup, escape

from ..core.environments import status
from ..core.probe.loadverdict import count_words
from .rows import why_no_sync
from .security import permission_problem
from .services import services

LOG_MAX_LINES = 5000  # lines of a job's log a page holds; the raw log download has them all

STATUS_LABELS = {
    status.STATUS_MISSING: "missing",
    status.STATUS_IN_SYNC: "in sync",
    status.STATUS_OUT_OF_SYNC: "out of sync",
    status.STATUS_UNKNOWN: "unknown",
    status.STATUS_UNMANAGED: "not managed by envboard (active)",
    status.STATUS_ERROR: "error",
    status.STATUS_CHECKING: "checking…",
}


def moment(timestamp: float | None) -> Markup | str:
    """A <time> the browser keeps relative ("3 min ago"); the absolute time and zone on hover.

    The text is the absolute time, so a cached row stays true and the page reads without
    JavaScript; static/envboard.js rewrites it as an age and keeps it current.
    """
    if timestamp is None:
        return "-"
    local = datetime.fromtimestamp(timestamp).astimezone()
    absolute = local.strftime("%Y-%m-%d %H:%M:%S %Z")
    return Markup('<time datetime="{}" title="{}" data-relative>{}</time>').format(
        local.isoformat(timespec="seconds"), absolute, absolute
    )


def status_label(status: str) -> str:
    return STATUS_LABELS.get(status, status)


DRIFT_WORDS = (
    ("install", "to install"),
    ("remove", "to remove"),
    ("change", "to change"),
    ("reinstall", "to reinstall"),
)


def drift_summary(counts: dict[str, int]) -> str:
    """'1 to remove, 2 to change' (kinds with none left out); '' when nothing differs."""
    return ", ".join(f"{counts[kind]} {words}" for kind, words in DRIFT_WORDS if counts.get(kind))


def status_text(state) -> str:
    """A status badge's words: 'out of sync: 1 to remove, 2 to change' when uv named the drift."""
    label = status_label(state.status_name)
    summary = drift_summary(state.drift_counts) if state.status_name == status.STATUS_OUT_OF_SYNC else ""
    return f"{label}: {summary}" if summary else label


CHECK_LABELS = {
    "loads": "loads",
    "fails": "does not load",
    "checking": "checking…",
    "not_checked": "not checked yet",
    "not_applicable": "not applicable",
}


def check_label(status: str) -> str:
    return CHECK_LABELS.get(status, status)


def project_name(project_id: str) -> str:
    """The name a person knows a project by; its id when it is no longer in the workspace."""
    state = services().monitor.snapshot.get(project_id)
    return state.project.name if state is not None else project_id


def in_workspace(path) -> str:
    """A file as a person finds it from the workspace root (absolute when it is outside)."""
    root = services().board.workspace.root
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def counted(number: int, noun: str, plural: str | None = None) -> str:
    """'1 module', '2 modules', '0 modules'."""
    return f"{number} {noun if number == 1 else (plural or noun + 's')}"


_SEPARATOR = re.compile(r"([/\\])")


def breakable(text: object) -> Markup:
    """Escaped text with a line-break opportunity after each path separator.

    Long paths and commands then wrap at a folder boundary, never in the middle of a name.
    """
    return Markup(_SEPARATOR.sub(r"\1<wbr>", str(escape(str(text)))))


def init_app(app: Flask) -> None:
    @app.context_processor
    def job_helpers():
        jobs = services().jobs

        def sync_blocked(project):
            return why_no_sync(project, permission_problem(), jobs)

        return {
            "sync_blocked": sync_blocked,
            "active_job": jobs.active_job,
            "shared_with": jobs.board.shared_with,  # a sync of a shared environment asks first
        }

    app.jinja_env.globals["log_max_lines"] = LOG_MAX_LINES
    app.jinja_env.globals["statuses"] = status.STATUSES
    app.jinja_env.globals["project_name"] = project_name
    app.jinja_env.filters["in_workspace"] = in_workspace
    app.jinja_env.filters["moment"] = moment
    app.jinja_env.filters["counted"] = counted
    app.jinja_env.filters["breakable"] = breakable
    app.jinja_env.filters["status_label"] = status_label
    app.jinja_env.filters["status_text"] = status_text
    app.jinja_env.filters["check_label"] = check_label
    app.jinja_env.filters["definition_counts"] = count_words
