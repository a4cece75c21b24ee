"""Keeps a fresh picture of every project in memory, so that a page never waits for a probe.

A background thread looks again at what changed (config files, lock files, installed
packages: cheap stats, cached answers) and starts status checks and probes in the
board's pool when an answer is missing. Each pass publishes an immutable `Snapshot`;
requests only read the latest one, so they do no file I/O of their own.

What changed is told by a folder watcher (`watch.py`): a pass re-reads only the projects
whose folders saw a change or whose background task ended, so an idle server with
thousands of projects does almost nothing. Every `full_interval` (and on every pass
where watching is not possible) it re-reads everything anyway, in case an event was lost.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from ..environments.sharing import shared
from ..settings import FULL_REFRESH_INTERVAL, REFRESH_INTERVAL
from ..workspace.dg import CONFIG_FILES
from ..workspace.scan import Project
from .board import Board
from .state import ProjectState
from .watch import FolderWatcher

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
    def __init__(
        self,
        board: Board,
        interval: float = REFRESH_INTERVAL,
        full_interval: float = FULL_REFRESH_INTERVAL,
        watch: bool = True,
    ) -> None:
        self.board = board
        self.interval = interval
        self.full_interval = full_interval
        # versions count on from the start time in ms, not from 0: a page left open across a
        # restart holds an old version as its poll token, which must not match a new one
        self._snapshot = Snapshot(version=time.time_ns() // 1_000_000)
        self._publish_lock = threading.Lock()
        self._shared_for: list = []  # (id, project, environment) of the last sharing worked out
        self._shared_with: dict[str, tuple[Project, ...]] = {}
        self._shared_until = 0.0
        self._refresh_lock = threading.Lock()  # one pass at a time (the thread, a request, a job)
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._watcher = FolderWatcher(self._changed) if watch else None
        self._changes: set[str] = set()  # paths the watcher reported since the last pass
        self._changes_lock = threading.Lock()
        self._next_full = 0.0
        # told of every snapshot whose version grew (the web layer renders its rows ahead of requests)
        self.publish_listeners: list[Callable[[Snapshot], None]] = []
        self.passes = 0  # how many passes looked at anything (for /metrics and the benchmarks)
        self.last_pass_seconds: float | None = None
        self.last_full_pass_seconds: float | None = None
        board.task_listeners.append(self.poke)

    # -- reading (no I/O: the last published snapshot) ------------------------------------------

    @property
    def snapshot(self) -> Snapshot:
        return self._snapshot

    @property
    def watching(self) -> bool:
        return self._watcher is not None and self._watcher.watching

    # -- updating -----------------------------------------------------------------------------

    def refresh(self) -> Snapshot:
        """Look at every project again now and publish what was seen."""
        with self._refresh_lock:
            return self._full_pass()

    def settle(self, *, refresh: bool = False) -> Snapshot:
        """Every project's whole answer, probes and checks included, published: the command
        line's one look (a server's pages never wait for this). `refresh` probes again."""
        with self._refresh_lock:
            self.board.rescan()
            return self._publish(self.board.states(wait=True, refresh=refresh))

    def _full_pass(self) -> Snapshot:
        started = time.perf_counter()
        with self._changes_lock:
            self._changes.clear()  # everything is looked at now
        self.board.take_finished()
        self.board.rescan()
        snapshot = self._publish([self.board.state(project) for project in self.board.workspace.projects])
        self._next_full = time.monotonic() + self.full_interval
        self._watch(snapshot)
        self._count(started)
        self.last_full_pass_seconds = self.last_pass_seconds
        return snapshot

    def _pass(self) -> Snapshot:
        """One pass of the thread: everything when due or when unwatched, else only what changed."""
        with self._refresh_lock:
            if not self.watching or time.monotonic() >= self._next_full:
                return self._full_pass()
            with self._changes_lock:
                changes, self._changes = self._changes, set()
            finished = self.board.take_finished()
            current = self._snapshot
            if not changes and not finished and not any(s.pending for s in current.states):
                return current  # nothing to look at: no stat, no publish
            started = time.perf_counter()
            touched = self._projects_of(changes)
            if touched is None:
                return self._full_pass()
            dirty = finished | touched
            # a probe that just failed may be the first to know its folder went (the event may
            # still be on its way): the configs of the projects looked at are checked anyway
            if self._needs_rescan(changes) or self.board.config_changed(dirty):
                self.board.rescan()
            previous = current.by_id
            states = []
            for project in self.board.workspace.projects:
                known = previous.get(project.id)
                if known is None or known.project != project or known.pending or project.path in dirty:
                    known = self.board.state(project)
                states.append(known)
            snapshot = self._publish(states)
            self._watch(snapshot)
            self._count(started)
            return snapshot

    def _count(self, started: float) -> None:
        self.passes += 1
        self.last_pass_seconds = time.perf_counter() - started

    def _needs_rescan(self, changes: set[str]) -> bool:
        """A config file, or a project folder itself, was created, written or removed."""
        folders = {str(p.path) for p in self.board.workspace.projects} | {str(self.board.workspace.root)}
        return any(os.path.basename(c) in CONFIG_FILES or c in folders for c in changes)

    def _projects_of(self, changes: set[str]) -> set[Path] | None:
        """The projects whose folders hold these paths; None when one is outside every project."""
        roots = {p.path for p in self.board.workspace.projects}
        dirty: set[Path] = set()
        for change in changes:
            path = Path(change)
            owner = next((parent for parent in (path, *path.parents) if parent in roots), None)
            if owner is None:  # a shared environment (the active one, a uv workspace's): all of them
                return None
            dirty.add(owner)
        return dirty

    def _watch(self, snapshot: Snapshot) -> None:
        """Watch the folders of every project, its environment and what its cached answers depend on."""
        if self._watcher is None:
            return
        workspace = self.board.workspace
        folders = {str(workspace.root)} | self.board.cache.watched_folders()
        for state in snapshot.states:
            folders.add(str(state.project.path))
            if state.env is not None and state.env.venv is not None:
                folders.add(str(state.env.venv))  # its site-packages come with the cached answers
        self._watcher.watch(folders)

    def _changed(self, paths: set[str]) -> None:
        """From the watcher's thread."""
        with self._changes_lock:
            self._changes |= paths
        self._wake.set()

    def refresh_project(self, project_id: str) -> ProjectState | None:
        """Look at one project again now (after an action on it)."""
        with self._refresh_lock:  # no pass may publish between reading the states and publishing them
            project = self.board.project(project_id)
            if project is not None and self.board.config_changed({project.path}):
                self.board.rescan()  # its config was just written (a mode change)
                project = self.board.project(project_id)
            if project is None:
                return None
            state = self.board.state(project)
            self._publish([state if s.id == project_id else s for s in self._snapshot.states])
            return state

    def _publish(self, states: list[ProjectState]) -> Snapshot:
        with self._publish_lock:
            current = self._snapshot
            for state in states:
                _keep_last_answer(state, current.by_id.get(state.id))
            sharing = self._sharing(states)
            for state in states:
                state.shared_with = sharing.get(state.id, ())
            fingerprints = {
                # a state object carried over from the last snapshot keeps its fingerprint
                state.id: current.fingerprints[state.id]
                if current.by_id.get(state.id) is state
                else state.fingerprint()
                for state in states
            }
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
            snapshot = self._snapshot
        if changed:
            for listener in self.publish_listeners:
                listener(snapshot)
        return snapshot

    def _sharing(self, states: list[ProjectState]) -> dict[str, tuple[Project, ...]]:
        """Each project's others in the same environment, worked out again only when a project
        or an environment changed: n projects in one environment (every `active` project shares
        the active Python) are n x n entries and a realpath each, and the monitor publishes
        after every background answer. A link moved under an unchanged path is seen by the
        next full pass's time at the latest."""
        placed = [(state.id, state.project, state.env) for state in states]
        if placed != self._shared_for or time.monotonic() >= self._shared_until:
            sharing = shared((state.id, state.env) for state in states)
            projects = {state.id: state.project for state in states}
            self._shared_with = {
                pid: tuple(projects[other] for other in others) for pid, others in sharing.items()
            }
            self._shared_for = placed
            self._shared_until = time.monotonic() + FULL_REFRESH_INTERVAL
        return self._shared_with

    @property
    def stopped(self) -> threading.Event:
        """Set once the monitor has stopped (threads that follow it stop too)."""
        return self._stopped

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
        if self._watcher is not None:
            self._watcher.stop()

    def _run(self) -> None:
        while not self._stopped.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            if self._stopped.is_set():
                return
            try:
                self._pass()
            except Exception:  # noqa: BLE001 - the monitor must outlive any one bad refresh
                log.exception("refresh failed")


def _keep_last_answer(state: ProjectState, before: ProjectState | None) -> None:
    """While a project is probed again, its last plugin list stays, marked as refreshing: a
    page, the API and /metrics would otherwise lose it for the seconds the probe takes."""
    if state.plugins is not None or not state.pending or before is None or before is state:
        return
    if before.plugins is None or before.env is None or state.env is None:
        return
    if before.env.python != state.env.python:
        return  # another environment: the old answer is not about this one
    state.plugins = before.plugins
    state.refreshing = True
