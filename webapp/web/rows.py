"""Rendered overview rows, reused while nothing a row shows has changed.

With hundreds of projects and every viewer polling, most rows are identical from one
answer to the next. A row's key is the fingerprint the monitor computed when it
published its snapshot, plus what depends on the viewer (their permission) and on
running jobs. Rows hold no CSRF token (it lives in base.html's meta tag): nothing is ever
substituted into rendered text that a project's name could reach.
"""

from __future__ import annotations

import threading

from flask import get_template_attribute, request
from markupsafe import Markup

from ..core.jobs import JobManager
from ..core.monitor import Snapshot
from ..core.state import ProjectState
from .security import permission_problem


class RowCache:
    def __init__(self) -> None:
        self._rows: dict[str, tuple[tuple, Markup]] = {}
        self._lock = threading.Lock()

    def render(self, states: list[ProjectState], snapshot: Snapshot, jobs: JobManager) -> Markup:
        macro = get_template_attribute("fragments/row.html", "project_row")
        problem = permission_problem()
        parts = []
        for state in states:
            running = jobs.active_job(state.id)
            blocked = problem or jobs.can_sync(state.project)
            key = (
                snapshot.fingerprints.get(state.id),
                (running.id, running.status) if running else None,
                blocked,
                request.script_root,
            )
            with self._lock:
                cached = self._rows.get(state.id)
            if cached is None or cached[0] != key:
                cached = (key, macro(state, running, blocked))
                with self._lock:
                    self._rows[state.id] = cached
            parts.append(cached[1])
        return Markup("".join(parts))
