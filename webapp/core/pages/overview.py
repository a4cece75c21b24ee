"""The overview: one row per project, the workspace's own facts, and what "Sync all" syncs.

The data of `/`, `/fragments/rows`, `/api/projects` and `envboard list`. It reads only the
monitor's last snapshot and the board's workspace, so the overview's frequent polls cost no
I/O. Apart from one project's data (`project.py`): the rows are the workspace's, polled
every few seconds, and carry their own filters (`MAX_QUERY` cuts every page's name filter).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from ..app import Envboard
from ..environments.status import STATUS_MISSING, STATUS_OUT_OF_SYNC
from ..live.monitor import Snapshot
from ..live.state import ProjectState
from ..workspace.dg import MODE_UV
from ..workspace.scan import Workspace

MAX_QUERY = 200  # characters of a name filter; longer text could match nothing anyway


@dataclass(frozen=True)
class Filters:
    """The overview's filters: a text in the name or path, a mode, a status ('' = any)."""

    q: str = ""
    mode: str = ""
    status: str = ""

    def matches(self, state: ProjectState) -> bool:
        project = state.project
        query = self.q.strip().lower()
        if query and query not in project.name.lower() and query not in project.rel_path.lower():
            return False
        if self.mode and (project.mode.mode if project.mode else "") != self.mode:
            return False
        return not self.status or state.status_name == self.status

    def as_json(self) -> dict[str, str]:
        return {"q": self.q, "mode": self.mode, "status": self.status}


@dataclass(frozen=True)
class Overview:
    workspace: Workspace
    states: list[ProjectState]  # the ones the filters let through, in workspace order
    total: int
    filters: Filters
    snapshot: Snapshot  # what the monitor published last, these rows included
    report: dict[str, Any]  # the workspace facts of `envboard list --json`
    jobs_generation: int = 0  # grows when a job is queued, starts or ends (rows show "Syncing…")
    outdated: tuple[int, int] | None = None  # outdated packages, projects that have one (the page only)

    @property
    def version(self) -> str:
        """What a poller sends back: the rows are unchanged while both numbers are."""
        return _overview_version(self.snapshot.version, self.jobs_generation)

    @property
    def page_facts(self) -> tuple[str | None, ...]:
        """The workspace's own facts the page renders: part of the key its answer is kept under."""
        return _page_facts(self.workspace, self.report["isolation"])

    def to_json(self) -> dict[str, Any]:
        named = {s.id: {"id": s.id, "name": s.project.name} for s in self.snapshot.states}
        return {
            **self.report,
            "filters": self.filters.as_json(),
            "projects": [s.to_json(named) for s in self.states],
        }


def _overview_version(snapshot_version: int, jobs_generation: int) -> str:
    return f"{snapshot_version}.{jobs_generation}"


def overview_version(envboard: Envboard) -> str:
    """`overview(...).version` now, without building the overview: what a poll compares first."""
    return _overview_version(envboard.monitor.snapshot.version, envboard.jobs.generation)


def page_facts(envboard: Envboard) -> tuple[str | None, ...]:
    """`overview(...).page_facts` now, without building the overview. The snapshot's version grows
    only when projects change, so what the page says of the workspace itself (its heading, its
    config's error, the isolation notice) goes into the keys its kept answers are found by."""
    return _page_facts(envboard.board.workspace, envboard.board.confinement.to_json())


def _page_facts(workspace: Workspace, isolation: dict[str, Any] | None) -> tuple[str | None, ...]:
    return (str(workspace.root), workspace.error, (isolation or {}).get("notice"))


def workspace_facts(envboard: Envboard) -> dict[str, Any]:
    """What the overview says of the workspace itself, beside its projects."""
    board = envboard.board
    workspace, active = board.workspace, board.active
    return {
        "workspace": str(workspace.root),
        "workspace_kind": workspace.kind,
        "workspace_error": workspace.error,
        "active_python": {
            "python": str(active.python) if active.python else None,
            "reason": active.reason,
            "version": active.version,
        },
        "uv": {"path": board.uv.path, "reason": board.uv.reason},
        "isolation": board.confinement.to_json(),
    }


OUTDATED_RECOUNT = 5.0  # seconds at least between two counts of outdated packages, when answers came
OUTDATED_RECOUNT_ANYWAY = 60.0  # and at most, when nothing came: expired answers are asked again
_COUNTING = threading.Lock()


def overview(
    envboard: Envboard,
    filters: Filters = Filters(),  # noqa: B008 - frozen
    *,
    count_outdated: bool = False,
) -> Overview:
    """`count_outdated`: the page's line on outdated packages (cached answers; the missing ones are
    asked in the background), left out of the rows' frequent polls."""
    snapshot = envboard.monitor.snapshot
    outdated = outdated_count(envboard, snapshot) if count_outdated else None
    if filters == Filters():
        shown = list(snapshot.states)  # the usual poll: no per-project work
    else:
        shown = [state for state in snapshot.states if filters.matches(state)]
    return Overview(
        workspace=envboard.board.workspace,
        states=shown,
        total=len(snapshot.states),
        filters=filters,
        snapshot=snapshot,
        report=workspace_facts(envboard),
        jobs_generation=envboard.jobs.generation,
        outdated=outdated,
    )


def outdated_count(envboard: Envboard, snapshot: Snapshot) -> tuple[int, int]:
    """The page's line on outdated packages: how many, in how many projects."""
    counts = envboard.renders.get(("outdated count",), lambda: OutdatedCount(envboard))
    return counts.get(snapshot.version, lambda: _count_outdated(envboard, snapshot))


class OutdatedCount:
    """The last count, and a recount in a thread of its own when it is due.

    Counting looks at every environment's cached answer, and asks the background check
    for the missing and expired ones (0.6 s at 2,000 projects on a busy box). It is due
    when the snapshot changed or a background check brought an answer, at most every
    OUTDATED_RECOUNT seconds, and every OUTDATED_RECOUNT_ANYWAY seconds in any case. Only
    the first count is waited for: after that a request shows the last count while one
    thread counts again.
    """

    def __init__(self, envboard: Envboard) -> None:
        self._lock = threading.Lock()
        self._answers = 0  # answers the background check brought so far
        self._key: Hashable = None
        self._value: tuple[int, int] | None = None
        self._counted_at = 0.0
        self._counting = False
        envboard.outdated.listeners.append(self._answered)

    def _answered(self, _path: object) -> None:
        with self._lock:
            self._answers += 1

    def get(self, version: int, count: Callable[[], tuple[int, int]]) -> tuple[int, int]:
        with self._lock:
            key = (version, self._answers)
            if self._value is not None:
                since = time.monotonic() - self._counted_at
                due = (key != self._key and since >= OUTDATED_RECOUNT) or since >= OUTDATED_RECOUNT_ANYWAY
                if due and not self._counting:
                    self._counting = True
                    threading.Thread(
                        target=self._recount, args=(key, count), name="envboard-outdated-count", daemon=True
                    ).start()
                return self._value
        with _COUNTING:  # the first count: one request counts, the others wait for its answer
            with self._lock:
                if self._value is not None:
                    return self._value
            started = time.monotonic()
            self._store(key, count(), started)
            return self._value

    def _store(self, key: Hashable, value: tuple[int, int], started: float) -> None:
        with self._lock:
            self._key, self._value, self._counted_at = key, value, started

    def _recount(self, key: Hashable, count: Callable[[], tuple[int, int]]) -> None:
        try:
            self._store(key, count(), time.monotonic())
        finally:
            with self._lock:
                self._counting = False


def _count_outdated(envboard: Envboard, snapshot: Snapshot) -> tuple[int, int]:
    reports = [envboard.outdated.report(s.project, s.env) for s in snapshot.states]
    return sum(len(r.packages) for r in reports), sum(1 for r in reports if r.packages)


def needing_sync(envboard: Envboard) -> list[ProjectState]:
    """What "Sync all" syncs: every uv-managed project that is out of sync or has no environment yet
    (on a new box nothing is synced, and "nothing is out of sync" would be no help)."""
    return [
        state
        for state in envboard.monitor.snapshot.states
        if state.status_name == STATUS_OUT_OF_SYNC
        or (state.status_name == STATUS_MISSING and state.env is not None and state.env.mode == MODE_UV)
    ]
