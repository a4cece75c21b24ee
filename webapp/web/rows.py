"""Rendered overview rows, reused while nothing a row shows has changed.

With hundreds of projects and every viewer polling, most rows are identical from one
answer to the next, and usually the whole table is. A row's key is the fingerprint the
monitor computed when it published its snapshot, plus what depends on the viewer (their
permission) and on running jobs. The joined table is kept too, keyed by the snapshot's
version, the filters and the same viewer and job facts: a request that finds it does no
per-row work. Relative ages ("12 s ago") are not part of either key: the browser keeps
them current from each `<time datetime>`, so a row re-renders only when its content
changes. Rows hold no CSRF token (it lives in base.html's meta tag): nothing is ever
substituted into rendered text that a project's name could reach.

A row needs no request: its links are built from the app's routes for the script root
they will be served under (`url_map.bind`), so the same code renders rows ahead, in an
app context of the background thread, and for a request.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

from flask import Flask, current_app, request
from markupsafe import Markup

from ..core.jobs.manager import JobManager
from ..core.live.monitor import Snapshot
from ..core.live.state import ProjectState
from ..core.pages.overview import Filters
from .encoded import Encoded

log = logging.getLogger("envboard")

RENDER_AHEAD_WAIT = 5.0  # a request waits this long at most for rows being rendered ahead
TABLES_KEPT = 16  # filter combinations whose joined table is kept


class Table(Encoded):
    """The joined rows, encoded once, and each row by project id (to send only the changed ones)."""

    __slots__ = ("rows",)

    def __init__(self, rows: list[tuple[str, Markup]]) -> None:
        super().__init__("".join(html for _, html in rows))
        self.rows = tuple(rows)


class RowCache:
    def __init__(self) -> None:
        self._rows: dict[str, tuple[tuple, Markup]] = {}
        self._tables: OrderedDict[tuple, Table] = OrderedDict()
        self._lock = threading.Lock()
        self._latest: Snapshot | None = None  # the snapshot waiting to be rendered ahead of requests
        self._rendering: threading.Event | None = None  # set when the ahead-of-time render is done
        self._wake = threading.Event()

    # -- ahead of requests ----------------------------------------------------------------------

    def render_ahead(
        self, app: Flask, jobs: JobManager, stopped: threading.Event
    ) -> Callable[[Snapshot], None]:
        """A publish listener: every new snapshot's table is rendered in the background.

        It is rendered as the usual viewer sees it (no filter, allowed to act, no script
        root), so that the first request after start, and every poll after a change,
        finds the rows ready instead of rendering hundreds of them while the viewer waits.
        """
        thread = threading.Thread(
            target=self._render_loop, args=(app, jobs, stopped), name="envboard-rows", daemon=True
        )
        thread.start()

        def published(snapshot: Snapshot) -> None:
            with self._lock:
                self._latest = snapshot
                if self._rendering is None or self._rendering.is_set():
                    self._rendering = threading.Event()
            self._wake.set()

        return published

    def _render_loop(self, app: Flask, jobs: JobManager, stopped: threading.Event) -> None:
        while not stopped.is_set():  # it ends with the monitor whose snapshots it renders
            if not self._wake.wait(0.5):
                continue
            self._wake.clear()
            with self._lock:
                snapshot, self._latest = self._latest, None
                done = self._rendering
            if snapshot is None:
                continue
            try:
                with app.app_context():  # the filters reach the core through the app; no request
                    # compressed here too, once, before the first browser asks for gzip
                    self._table(list(snapshot.states), snapshot, jobs, Filters(), None, "").deflated()
            except Exception:  # noqa: BLE001 - requests render for themselves if this fails
                log.exception("rendering rows ahead failed")
            with self._lock:
                if self._latest is None and done is not None:
                    done.set()

    # -- for a request ----------------------------------------------------------------------------

    def render(
        self,
        states: list[ProjectState],
        snapshot: Snapshot,
        jobs: JobManager,
        filters: Hashable,
        permission: str | None,
    ) -> Markup:
        """The rows of `states` (the ones `filters` let through) as one HTML string, for a
        viewer whose `permission` problem (None: they may act) the buttons show."""
        return Markup(self.table(states, snapshot, jobs, filters, permission).text)

    def table(
        self,
        states: list[ProjectState],
        snapshot: Snapshot,
        jobs: JobManager,
        filters: Hashable,
        permission: str | None,
    ) -> Table:
        """The same rows, encoded once: the one object for as long as they stay the same."""
        with self._lock:
            rendering = self._rendering
        if rendering is not None and not rendering.is_set():
            rendering.wait(RENDER_AHEAD_WAIT)  # the same rows are being rendered already
        return self._table(states, snapshot, jobs, filters, permission, request.script_root)

    def _table(
        self,
        states: list[ProjectState],
        snapshot: Snapshot,
        jobs: JobManager,
        filters: Hashable,
        problem: str | None,
        script_root: str,
    ) -> Table:
        active = jobs.active_jobs()
        table_key = (
            snapshot.version,
            filters,
            problem,
            jobs.unavailable,
            tuple(sorted((pid, r.id, r.status) for pid, r in active.items())),
            script_root,
        )
        with self._lock:
            table = self._tables.get(table_key)
        if table is None:
            table = Table(self._render_rows(states, snapshot, jobs, problem, active, script_root))
            with self._lock:
                self._tables[table_key] = table
                self._tables.move_to_end(table_key)
                while len(self._tables) > TABLES_KEPT:
                    self._tables.popitem(last=False)
        return table

    def _render_rows(self, states, snapshot, jobs, problem, active, script_root) -> list[tuple[str, Markup]]:
        macro = None  # made only when a row is not kept
        parts = []
        for state in states:
            running = active.get(state.id)
            blocked = why_no_sync(state.project, problem, jobs)
            key = (
                snapshot.fingerprints.get(state.id),
                (running.id, running.status) if running else None,
                blocked,
                script_root,
            )
            with self._lock:
                cached = self._rows.get(state.id)
            if cached is None or cached[0] != key:
                if macro is None:
                    macro = row_macro(current_app, script_root)
                cached = (key, macro(state, running, blocked))
                with self._lock:
                    self._rows[state.id] = cached
            parts.append((state.id, cached[1]))
        return parts


def row_macro(app: Flask, script_root: str) -> Callable[..., Markup]:
    """The row macro of `fragments/row.html`, its `url_for` building paths under `script_root`
    from the app's routes, as Flask's would in a request served there."""
    # the host is never in a row (paths only), so any name will do
    urls = app.url_map.bind("localhost", script_name=script_root or "/")

    def url_for(endpoint: str, **values) -> str:
        return urls.build(endpoint, values)

    template = app.jinja_env.get_template("fragments/row.html")
    return template.make_module({"url_for": url_for}).project_row


def why_no_sync(project, permission: str | None, jobs: JobManager) -> str | None:
    """Why this viewer cannot sync this project (their role first, then the project), or None."""
    return permission or jobs.can_sync(project)
