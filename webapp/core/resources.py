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
| versions | `versions()` | `/versions`, `/api/versions` |
| packages | `packages()` | `/projects/<id>/packages`, `/api/projects/<id>/packages` |
"""

from __future__ import annotations

import os
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import modes
from .dg import MODE_UV
from .environment import ResolvedEnvironment
from .history import JobRecord
from .monitor import Snapshot
from .plugins import probe_invocation
from .services import Envboard
from .state import ProjectState
from .sync import sync_invocation
from .terminal import safe_cut
from .workspace import Workspace


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

    @property
    def version(self) -> str:
        """What a poller sends back: the rows are unchanged while both numbers are."""
        return f"{self.snapshot.version}.{self.jobs_generation}"

    def to_json(self) -> dict[str, Any]:
        return {
            **self.report,
            "filters": self.filters.as_json(),
            "projects": [s.to_json() for s in self.states],
        }


def overview(envboard: Envboard, filters: Filters = Filters()) -> Overview:  # noqa: B008 - frozen
    snapshot = envboard.monitor.snapshot
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
        report=envboard.board.report([]),
        jobs_generation=envboard.jobs.generation,
    )


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

    def to_json(self) -> dict[str, Any]:
        return {"jobs": [job.to_json() for job in self.jobs]}


def history(envboard: Envboard, project: ProjectState | None = None, who: str | None = None) -> History:
    project_id = project.id if project else None
    records = envboard.jobs.history
    return History(records.list(project_id, who=who or None), project, who or None, records.people())


LOG_CHUNK = 256 * 1024
LOG_TAIL = 1024 * 1024  # a page opened on a big log starts this far from its end


class LogOffsetError(ValueError):
    """An offset this log has not reached."""


@dataclass(frozen=True)
class LogChunk:
    text: str  # whole characters and escape codes only: a cut one waits for the next chunk
    offset: int  # where the next chunk starts
    skipped: int  # bytes left out at the start (a page opened on a big log)
    done: bool  # the job has ended and this is the end of its log


def log_chunk(record: JobRecord, offset: int, *, tail: bool = False) -> LogChunk:
    """New output of a job's log from a byte offset (the live log's data)."""
    data, skipped = b"", 0
    if record.log_path and os.path.exists(record.log_path):
        with open(record.log_path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if offset > size:  # seeking there would overflow or lie
                raise LogOffsetError(f"offset {offset} is past the end of this log ({size} bytes)")
            if tail and size - offset > LOG_TAIL:
                handle.seek(size - LOG_TAIL)
                handle.readline()  # start at a line boundary
                skipped = offset = handle.tell()
            handle.seek(offset)
            data = handle.read(LOG_CHUNK)
    more = len(data) == LOG_CHUNK
    finished = record.finished
    data = data[: len(data) if finished and not more else safe_cut(data)]
    return LogChunk(
        data.decode("utf-8", errors="replace"), offset + len(data), skipped, finished and not more
    )


def job(envboard: Envboard, job_id: str) -> JobRecord | None:
    return envboard.jobs.get(job_id)


# -- versions: packages by project --------------------------------------------------------------

PYTHON_ROW = "python"
SCOPE_DAGSTER = "dagster"  # the Dagster family and Python: what the page opens on
SCOPE_ALL = "all"


def is_dagster_family(name: str) -> bool:
    """`dagster`, `dagster-*` (dagster-dg-cli among them) and `dg`; Python rides along."""
    return name in ("dagster", "dg", PYTHON_ROW) or name.startswith("dagster-")


@dataclass(frozen=True)
class VersionFilters:
    q: str = ""  # a text in the package's name
    scope: str = SCOPE_ALL

    def matches(self, name: str) -> bool:
        query = self.q.strip().lower()
        if query and query not in name:
            return False
        return self.scope != SCOPE_DAGSTER or is_dagster_family(name)


@dataclass(frozen=True)
class VersionRow:
    name: str
    versions: dict[str, str | None]  # project id -> version, None where not installed
    skew: bool  # two or more different versions across the projects that have it
    common: str | None  # the version most projects have (None on a tie): the others stand out

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "versions": self.versions, "skew": self.skew}


@dataclass(frozen=True)
class Versions:
    states: list[ProjectState]  # the columns, in workspace order
    rows: list[VersionRow]  # the ones the filters let through: Python first, then by name
    total: int  # rows before filtering
    filters: VersionFilters
    waiting: list[str]  # ids of projects whose packages are not known yet (probing, failed)

    def to_json(self) -> dict[str, Any]:
        return {
            "projects": [{"id": s.id, "name": s.project.name} for s in self.states],
            "packages": [row.to_json() for row in self.rows],
        }


def version_matrix(states: list[ProjectState], filters: VersionFilters = VersionFilters()) -> Versions:  # noqa: B008
    """Every distribution installed in two or more projects, plus Python and the Dagster family."""
    installed: dict[str, dict[str, str]] = {}  # name -> project id -> version
    waiting = []
    for state in states:
        plugins = state.plugins
        if plugins is None or plugins.failure:
            waiting.append(state.id)
            continue
        for package in plugins.packages:
            installed.setdefault(package["name"], {})[state.id] = package["version"]
    # the Dagster family is what the page opens on: shown even where one project has it
    shared = {name: found for name, found in installed.items() if len(found) >= 2 or is_dagster_family(name)}
    shared.pop(PYTHON_ROW, None)  # the interpreter's row comes from the environment, below
    pythons = {s.id: s.python_version for s in states if s.python_version}
    ids = [s.id for s in states]
    rows = [_version_row(PYTHON_ROW, pythons, ids)]
    rows += [_version_row(name, shared[name], ids) for name in sorted(shared)]
    shown = [row for row in rows if filters.matches(row.name)]
    return Versions(list(states), shown, len(rows), filters, waiting)


def _version_row(name: str, found: dict[str, str], ids: list[str]) -> VersionRow:
    distinct = sorted(set(found.values()))
    counts = sorted((list(found.values()).count(v), v) for v in distinct)
    # the version most projects share; None on a tie, where no one version is the odd one out
    common = counts[-1][1] if counts and (len(counts) == 1 or counts[-1][0] > counts[-2][0]) else None
    return VersionRow(name, {i: found.get(i) for i in ids}, len(distinct) > 1, common)


# envboard -> (snapshot version, filters) -> matrix; the version grows whenever a probe answers
_versions_memo: weakref.WeakKeyDictionary[Envboard, dict[tuple, Versions]] = weakref.WeakKeyDictionary()


def versions(envboard: Envboard, filters: VersionFilters = VersionFilters()) -> Versions:  # noqa: B008
    """The matrix of the monitor's snapshot; built once per snapshot version and filter."""
    snapshot = envboard.monitor.snapshot
    memo = _versions_memo.setdefault(envboard, {})
    key = (snapshot.version, filters)
    found = memo.get(key)
    if found is None:
        found = version_matrix(list(snapshot.states), filters)
        if len(memo) > 64:
            memo.clear()
        memo[key] = found
    return found


# -- packages: one project's, against its lock --------------------------------------------------


@dataclass(frozen=True)
class PackageRow:
    name: str
    version: str
    locked: str | None  # what uv.lock pins; None when the lock lacks it or there is no lock
    direct: bool  # pyproject.toml asks for it by name

    @property
    def differs(self) -> bool:
        """Not what the lock pins: installed by hand, or at another version."""
        return self.locked is None or self.version not in self.locked.split(", ")

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "locked": self.locked, "direct": self.direct}


@dataclass(frozen=True)
class Packages:
    state: ProjectState
    rows: list[PackageRow]  # the ones the filter lets through, by name
    total: int
    q: str

    @property
    def known(self) -> bool:
        """The probe has answered: an empty list means none, not "not yet"."""
        return self.state.plugins is not None and not self.state.plugins.failure

    @property
    def differing(self) -> int:
        return sum(1 for row in self.rows if row.differs)

    def to_json(self) -> dict[str, Any]:
        return {"project": self.state.id, "packages": [row.to_json() for row in self.rows]}


def package_list(state: ProjectState, q: str = "") -> Packages:
    plugins = state.plugins
    installed = plugins.packages if plugins is not None and not plugins.failure else []
    lock = state.lock
    locked = lock.locked if lock is not None and lock.present else {}
    direct = set(state.direct)
    rows = [
        PackageRow(p["name"], p["version"], locked.get(p["name"]), p["name"] in direct)
        for p in sorted(installed, key=lambda p: p["name"])
    ]
    query = q.strip().lower()
    shown = [row for row in rows if query in row.name] if query else rows
    return Packages(state, shown, len(rows), q)


def packages(envboard: Envboard, project_id: str, q: str = "") -> Packages | None:
    """None when the id is not one the scan produced."""
    state = envboard.monitor.snapshot.get(project_id)
    return None if state is None else package_list(state, q)
