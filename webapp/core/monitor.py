"""Keeps a fresh picture of every project in memory, so that a page never waits for a probe.

A background thread re-reads what changed every few seconds (config files, lock files,
installed packages: cheap stats, cached answers) and starts status checks and probes
in the board's pool when an answer is missing. Pages read the latest picture.
"""

from __future__ import annotations

import threading
import time

from .board import Board, ProjectState

REFRESH_INTERVAL = 2.0  # a change made outside envboard shows within this plus the page's poll


class Monitor:
    def __init__(self, board: Board, interval: float = REFRESH_INTERVAL) -> None:
        self.board = board
        self.interval = interval
        self._states: dict[str, ProjectState] = {}
        self._order: list[str] = []
        self._version = 0
        self._fingerprints: dict[str, tuple] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._refreshed_at: float | None = None
        board.task_listeners.append(self.poke)

    # -- reading ------------------------------------------------------------------------------

    @property
    def version(self) -> int:
        """Grows whenever anything shown changes; lets pollers skip identical answers."""
        self._ensure_fresh()
        return self._version

    def states(self) -> list[ProjectState]:
        self._ensure_fresh()
        with self._lock:
            return [self._states[i] for i in self._order if i in self._states]

    def state(self, project_id: str) -> ProjectState | None:
        self._ensure_fresh()
        with self._lock:
            return self._states.get(project_id)

    def _ensure_fresh(self) -> None:
        # without the background thread (tests, first request) refresh on demand
        if self._thread is None and (
            self._refreshed_at is None or time.monotonic() - self._refreshed_at > self.interval / 2
        ):
            self.refresh()

    # -- updating -----------------------------------------------------------------------------

    def refresh(self) -> None:
        workspace = self.board.rescan()
        fresh: dict[str, ProjectState] = {}
        for project in workspace.projects:
            fresh[project.id] = self.board.state(project)
        self._publish(fresh, [p.id for p in workspace.projects])
        self._refreshed_at = time.monotonic()

    def refresh_project(self, project_id: str) -> ProjectState | None:
        project = self.board.project(project_id)
        if project is None:
            return None
        state = self.board.state(project)
        with self._lock:
            merged = dict(self._states)
        merged[project_id] = state
        self._publish(merged, [p.id for p in self.board.workspace.projects])
        return state

    def _publish(self, states: dict[str, ProjectState], order: list[str]) -> None:
        with self._lock:
            changed = order != self._order
            for project_id, state in states.items():
                fingerprint = state.fingerprint()
                if self._fingerprints.get(project_id) != fingerprint:
                    self._fingerprints[project_id] = fingerprint
                    changed = True
            self._states = states
            self._order = order
            if changed:
                self._version += 1

    def poke(self) -> None:
        """Refresh soon (a job ended, a probe finished)."""
        self._wake.set()

    # -- the background thread ---------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        self.refresh()
        self._thread = threading.Thread(target=self._run, name="envboard-monitor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._wake.set()

    def _run(self) -> None:
        while not self._stopped.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            if self._stopped.is_set():
                return
            try:
                self.refresh()
            except Exception:  # noqa: BLE001 - the monitor must outlive any one bad refresh
                import logging

                logging.getLogger("envboard").exception("refresh failed")
