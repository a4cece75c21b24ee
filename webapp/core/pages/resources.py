"""One data function per resource: what its page, its htmx fragment and its JSON twin show.

Each function reads the running envboard (never the request) and returns a plain
object; the web layer renders it as a page, a fragment or `to_json()`, and the command
line prints the same. A newcomer looking for "where does the X page get its data"
finds it here:

| resource | function | page / fragment / JSON |
|---|---|---|
| overview | `overview()` | `/`, `/fragments/rows`, `/api/projects` |
| project | `project()` | `/projects/<id>` and its fragments, `/api/projects/<id>` |
| mode change | `mode_preview()` | `/projects/<id>/mode?to=`, `/api/projects/<id>/mode?to=` |
| history | `history()` | `/history`, `/projects/<id>/history`, `/api/jobs`, `/api/projects/<id>/history` |
| job | `job()`, `log_chunk()` | `/jobs/<id>` and its fragments, `/api/jobs/<id>` |
| versions | `versions()` (tables in `inventory.py`) | `/versions`, `/fragments/versions`, `/api/versions` |
| packages | `packages()` | `/projects/<id>/packages` and its fragment, `/api/projects/<id>/packages` |
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..app import Envboard
from ..environments.resolver import ResolvedEnvironment
from ..jobs.history import JobRecord
from ..jobs.kept import kept_dir
from ..jobs.log import JobLog, LogChunk
from ..jobs.sync import sync_invocation
from ..live.monitor import Snapshot
from ..live.state import ProjectState
from ..probe.runner import probe_invocation
from ..upgrades.skew import dagster_in, host_environment, skew_warnings
from ..workspace import modes
from ..workspace.dg import MODE_UV
from ..workspace.scan import Workspace
from .inventory import (
    Packages,
    VersionFilters,
    Versions,
    package_list,
    version_matrix,
)

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

    def to_json(self) -> dict[str, Any]:
        return {
            **self.report,
            "filters": self.filters.as_json(),
            "projects": [s.to_json() for s in self.states],
        }


def _overview_version(snapshot_version: int, jobs_generation: int) -> str:
    return f"{snapshot_version}.{jobs_generation}"


def overview_version(envboard: Envboard) -> str:
    """`overview(...).version` now, without building the overview: what a poll compares first."""
    return _overview_version(envboard.monitor.snapshot.version, envboard.jobs.generation)


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
    }


OUTDATED_RECOUNT = 5.0  # seconds the overview's count of outdated packages is kept per snapshot
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
    outdated = None
    if count_outdated:
        # counted once per snapshot and OUTDATED_RECOUNT (answers the background checks find
        # show that much later), not per page load, which looked at every environment on disk
        # (most of the page's time at 2,000 projects)
        recount = int(time.monotonic() // OUTDATED_RECOUNT)
        key = ("outdated count", snapshot.version, recount)
        with _COUNTING:  # one request counts; the others wait for its answer instead of counting too
            outdated = envboard.renders.get(key, lambda: _count_outdated(envboard, snapshot))
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


def _count_outdated(envboard: Envboard, snapshot: Snapshot) -> tuple[int, int]:
    reports = [envboard.outdated.report(s.project, s.env) for s in snapshot.states]
    return sum(len(r.packages) for r in reports), sum(1 for r in reports if r.packages)


@dataclass(frozen=True)
class ProjectPage:
    state: ProjectState
    commands: dict[str, str]  # the exact command lines envboard runs for it, as a person types them

    def to_json(self) -> dict[str, Any]:
        return {**self.state.to_json(), "commands": self.commands}


def project(envboard: Envboard, project_id: str) -> ProjectPage | None:
    """None when the id is not one the scan produced."""
    state = envboard.monitor.snapshot.get(project_id)
    if state is None:
        return None
    return ProjectPage(state, launcher_commands(envboard, state))


def launcher_commands(envboard: Envboard, state: ProjectState) -> dict[str, str]:
    if state.env is None:
        return {}
    resolver = envboard.board.resolver
    probe = probe_invocation(resolver, state.env, Path("ANSWER.json"), Path("REQUEST.json"))
    commands = {"plugin probe": f"(cd {probe.cwd} && {probe.display()})"}
    if state.env.mode == MODE_UV:
        sync = sync_invocation(resolver, state.project.path)
        commands["sync"] = f"(cd {sync.cwd} && {sync.display()})"
    return commands


@dataclass(frozen=True)
class ModePreview:
    state: ProjectState
    target: str
    change: modes.ModeChange | None  # None when the change cannot be made (see error)
    error: str | None
    future_env: ResolvedEnvironment | None  # the environment the project will have
    busy: bool = False  # refused only because too many previews are being prepared: retry soon

    def to_json(self) -> dict[str, Any]:
        change = self.change
        return {
            "project": self.state.id,
            "target": self.target,
            "error": self.error,
            "current_mode": change.current_mode if change else None,
            "file": str(change.file) if change else None,
            "file_hash": change.file_hash if change else None,
            "changes_anything": change.changes_anything if change else False,
            "diff": change.diff if change else None,
            "python": str(self.future_env.python) if self.future_env and self.future_env.python else None,
            "venv": str(self.future_env.venv) if self.future_env and self.future_env.venv else None,
        }


def mode_preview(envboard: Envboard, state: ProjectState, target: str) -> ModePreview:
    try:
        change = modes.preview(state.project, target)
    except modes.ModeChangeError as exc:
        return ModePreview(state, target, None, str(exc), None, busy=isinstance(exc, modes.PreviewsBusy))
    future = envboard.board.resolver.resolve(state.project, mode=target)
    return ModePreview(state, target, change, None, future)


@dataclass(frozen=True)
class History:
    jobs: list[JobRecord]
    project: ProjectState | None  # set when it is one project's history
    who: str | None
    people: list[str]  # everyone in the history, for the filter by user
    rollbackable: frozenset[str] = frozenset()  # ended jobs that kept the files they replaced

    def to_json(self) -> dict[str, Any]:
        return {"jobs": [job.to_json() for job in self.jobs]}


def history(envboard: Envboard, project: ProjectState | None = None, who: str | None = None) -> History:
    project_id = project.id if project else None
    records = envboard.jobs.history
    jobs = records.list(project_id, who=who or None)
    # a job that kept its files can be undone: History offers "Roll back to before this job"
    undoable = frozenset(j.id for j in jobs if j.finished and j.log_path and kept_dir(j.log_path).is_dir())
    return History(jobs, project, who or None, records.people(), undoable)


def log_chunk(record: JobRecord, offset: int, *, tail: bool = False) -> LogChunk:
    """New output of a job's log from a byte offset (the live log's data)."""
    return JobLog(record.log_path).read(offset, finished=record.finished, tail=tail)


def job(envboard: Envboard, job_id: str) -> JobRecord | None:
    return envboard.jobs.get(job_id)


# -- versions and packages (the tables themselves are built in core/inventory.py) ---------------


def versions(envboard: Envboard, filters: VersionFilters = VersionFilters()) -> Versions:  # noqa: B008
    """The matrix of the monitor's snapshot; built once per snapshot version and filter."""
    snapshot = envboard.monitor.snapshot
    board = envboard.board
    host = dagster_in(host_environment(board.workspace.root, board.active.venv))  # a folder listing
    states = list(snapshot.states)
    return envboard.renders.get(
        ("versions", snapshot.version, filters, host),
        lambda: replace(
            version_matrix(states, filters),
            version=snapshot.version,
            warnings=tuple(skew_warnings(states, host)),
        ),
    )


def packages(envboard: Envboard, project_id: str, q: str = "") -> Packages | None:
    """None when the id is not one the scan produced."""
    snapshot = envboard.monitor.snapshot
    state = snapshot.get(project_id)
    if state is None:
        return None
    latest = envboard.outdated.report(state.project, state.env).latest  # cached; else asked in the background
    return replace(package_list(state, q), version=snapshot.version, latest=latest)
