"""Keeps a fresh picture of every project in memory, so that a page never waits for a probe.

A background thread re-reads what changed every few seconds (config files, lock files,
installed packages: cheap stats, cached answers) and starts status checks and probes
in the board's pool when an answer is missing. Each pass publishes an immutable
`Snapshot`; requests only read the latest one, so they do no file I/O of their own.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from .board import Board
from .settings import REFRESH_INTERVAL
from .state import ProjectState

log = logging.getLogger("envboard")


@dataclass(frozen=True)
class Snapshot:
    """Every project as the last refresh saw it, in workspace order."""

    version: int  # grows whenever anything shown changes; lets pollers skip identical answers
    states: tuple[ProjectState, ...] = ()
    fingerprints: Mapping[str, tuple] = field(default_factory=dict)
    by_id: Mapping[str, ProjectState] = field(default_factory=dict)
    refreshed_at: float | None = None

    def get(self, project_id: str) -> ProjectState | None:
        return self.by_id.get(project_id)


class Monitor:
    def __init__(self, board: Board, interval: float = REFRESH_INTERVAL) -> None:
        self.board = board
        self.interval = interval
        self._snapshot = Snapshot(version=0)
        self._publish_lock = threading.Lock()
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        board.task_listeners.append(self.poke)

    # -- reading (no I/O: the last published snapshot) ------------------------------------------

    @property
    def snapshot(self) -> Snapshot:
        return self._snapshot

    # -- updating -----------------------------------------------------------------------------

    def refresh(self) -> Snapshot:
        """Look at every project again now and publish what was seen."""
        workspace = self.board.rescan()
        return self._publish([self.board.state(project) for project in workspace.projects])

    def refresh_project(self, project_id: str) -> ProjectState | None:
        """Look at one project again now (after an action on it)."""
        project = self.board.project(project_id)
        if project is None:
            return None
        state = self.board.state(project)
        with self._publish_lock:
            states = [state if s.id == project_id else s for s in self._snapshot.states]
        self._publish(states)
        return state

    def _publish(self, states: list[ProjectState]) -> Snapshot:
        fingerprints = {state.id: state.fingerprint() for state in states}
        with self._publish_lock:
            current = self._snapshot
            changed = [s.id for s in current.states] != [s.id for s in states] or any(
                current.fingerprints.get(i) != f for i, f in fingerprints.items()
            )
            self._snapshot = Snapshot(
                version=current.version + 1 if changed else current.version,
                states=tuple(states),
                fingerprints=MappingProxyType(fingerprints),
                by_id=MappingProxyType({state.id: state for state in states}),
                refreshed_at=time.time(),
            )
            return self._snapshot

    def poke(self) -> None:
        """Refresh soon (a job ended, a probe finished)."""
        self._wake.set()

    # -- the background thread ---------------------------------------------------------------

    def start(self) -> None:
        """One refresh now (it starts probes, it does not wait for them), then one every interval."""
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
                log.exception("refresh failed")
