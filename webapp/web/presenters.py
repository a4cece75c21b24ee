"""How core facts read on a page: ages, badges, labels. No logic about environments."""

from __future__ import annotations

import time

from flask import Flask

from .security import permission_problem
from .services import services

STATUS_LABELS = {
    "missing": "missing",
    "in_sync": "in sync",
    "out_of_sync": "out of sync",
    "unknown": "unknown",
    "unmanaged": "active env",
    "error": "error",
    "checking": "checking…",
}


def age(timestamp: float | None) -> str:
    """'12 s ago', '3 min ago', '2 h ago', '4 d ago'; '-' when unknown."""
    if timestamp is None:
        return "-"
    seconds = max(0, int(time.time() - timestamp))
    if seconds < 60:
        return f"{seconds} s ago"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 86400:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} d ago"


def clock(timestamp: float | None) -> str:
    if timestamp is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(timestamp))


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


def status_label(status: str) -> str:
    return STATUS_LABELS.get(status, status)


def init_app(app: Flask) -> None:
    @app.context_processor
    def job_helpers():
        jobs = services().jobs

        def sync_blocked(project):
            return permission_problem() or jobs.can_sync(project)

        return {"sync_blocked": sync_blocked, "active_job": jobs.active_job}

    app.jinja_env.globals["project_name"] = project_name
    app.jinja_env.filters["age"] = age
    app.jinja_env.filters["in_workspace"] = in_workspace
    app.jinja_env.filters["clock"] = clock
    app.jinja_env.filters["status_label"] = status_label
