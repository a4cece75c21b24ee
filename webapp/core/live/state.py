"""What is known about one project right now: the row of the overview, the body of its page."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..disk.times import iso
from ..environments.resolver import ResolvedEnvironment
from ..environments.status import LOCK_BEHIND, STATUS_CHECKING, STATUS_ERROR, EnvironmentStatus, drift_counts
from ..environments.uv import LOCK_OUTDATED, LOCK_UNKNOWN, LockFacts
from ..probe.answer import PluginList
from ..probe.loadverdict import LoadCheck
from ..workspace.dg import MODE_UV
from ..workspace.eras import older_than_dagster
from ..workspace.scan import Project


@dataclass
class ProjectState:
    """Everything known about one project right now; plugins may still be on their way."""

    project: Project
    env: ResolvedEnvironment | None = None
    status: EnvironmentStatus | None = None
    plugins: PluginList | None = None
    lock: LockFacts | None = None  # persistent_uv only: uv.lock and `uv lock --check`
    direct: tuple[str, ...] = ()  # what the project's pyproject.toml asks for by name
    pending: bool = False  # a status check or probe is running for it
    refreshing: bool = False  # `plugins` is the last answer, kept while the probe runs again
    shared_with: tuple[Project, ...] = ()  # other projects whose code runs in this same environment
    last_change: float | None = None
    check: LoadCheck | None = None  # the definitions load check: None until one has answered
    checking: bool = False  # a load check is queued or running for it
    changing: bool = False  # a job is changing its environment: nothing is asked until it ends

    @property
    def id(self) -> str:
        return self.project.id

    @property
    def status_name(self) -> str:
        if self.project.error:
            return STATUS_ERROR
        return self.status.status if self.status else STATUS_CHECKING

    @property
    def python_version(self) -> str | None:
        if self.env is not None and self.env.python_version:
            return self.env.python_version
        return self.plugins.python_version if self.plugins else None

    def fingerprint(self) -> tuple:
        """Changes whenever anything a page shows about this project changes."""
        plugins = self.plugins
        return (
            self.project.error,
            self.project.mode.mode if self.project.mode else None,
            self.status.status if self.status else None,
            self.status.reason if self.status else None,
            tuple(tuple(item.values()) for item in self.status.drift) if self.status else (),
            self.python_version,
            (self.lock.status, self.lock.reason, self.lock.present) if self.lock else None,
            self.direct,
            plugins.probed_at if plugins else None,
            plugins.failure if plugins else None,
            self.pending,
            self.refreshing,
            # the tuple itself, shared by the snapshot (a copy of its ids was n x n: every active
            # project shares with every other, 32 MB of fingerprints at 2,000 projects)
            self.shared_with,
            self.last_change,
            (self.check.status, self.check.checked_at, self.check.counting) if self.check else None,
            self.checking,
            self.changing,
        )

    @property
    def dg_warnings(self) -> list[str]:
        """What the project's dg says about its config, and whether that dg can load at all."""
        said = list(self.env.dg_warnings) if self.env else []
        plugins = self.plugins
        if plugins is not None:
            older = older_than_dagster(plugins.dg_version, plugins.dagster_version)
            if older:
                said.append(older)
        return said

    @property
    def shared_removals(self) -> list[str]:
        if not self.shared_with:
            return []
        return [item["name"] for item in self.drift if item["action"] == "remove"]

    @property
    def drift(self) -> list[dict[str, Any]]:
        return list(self.status.drift) if self.status else []

    @property
    def drift_counts(self) -> dict[str, int]:
        return drift_counts(self.drift)

    @property
    def check_status(self) -> str:
        """loads / fails / checking / not_checked / not_applicable: the overview's Loads column."""
        if self.project.error or self.env is None:
            return "not_applicable"
        if self.checking:
            return "checking"
        return self.check.status if self.check else "not_checked"

    def check_json(self) -> dict[str, Any]:
        """The definitions load check: its verdict, error, definitions and why it is decided so."""
        if self.check is not None:
            data = self.check.to_json()
        else:
            if self.env is None:
                why = "the project's config has an error"
            elif self.changing:
                why = "a job is changing its environment: it is checked once the job has ended"
            else:
                why = "no check has answered yet"
            data = {"loads": None, "error": None, "definitions": None, "checked_at_iso": None, "why": why}
        return {**data, "status": self.check_status}

    def lock_json(self) -> dict[str, Any] | None:
        """`environment.lock`: null outside persistent_uv, "checking" until uv has answered."""
        if self.env is None or self.env.mode != MODE_UV:
            return None
        if self.lock is None:
            return {"status": STATUS_CHECKING, "present": None, "reason": "uv lock --check is running"}
        if self.lock.status == LOCK_UNKNOWN and self.status and self.status.reason.startswith(LOCK_BEHIND):
            # uv's status check already knows what the offline lock check could not decide
            return {"status": LOCK_OUTDATED, "present": self.lock.present, "reason": self.status.reason}
        return self.lock.summary()

    def to_json(self, named: Mapping[str, dict[str, str]] | None = None) -> dict[str, Any]:
        """`named`: the `{"id", "name"}` of each project by id, made once for a whole list (in
        "shared_with", n active projects are n x n of them: a dict each was a gigabyte at 2,000)."""
        project = self.project
        data: dict[str, Any] = {
            "id": project.id,
            "name": project.name,
            "path": str(project.path),
            "mode": project.mode.mode if project.mode else None,
            "error": project.error,
            "error_location": _location(project),
            "environment": None,
            "plugins": None,
            "last_change": self.last_change,
            "last_change_iso": iso(self.last_change),
            "pending": self.pending,
            "refreshing": self.refreshing,
        }
        if self.env is not None:
            data["environment"] = {
                "python": str(self.env.python) if self.env.python else None,
                "python_version": self.python_version,
                "venv": str(self.env.venv) if self.env.venv else None,
                "status": self.status.status if self.status else STATUS_CHECKING,
                "reason": self.status.reason if self.status else "uv's check is running",
                "drift": self.drift,
                "lock": self.lock_json(),
                "why": list(self.env.why),
                "warnings": list(self.env.warnings),
                # as the project's own dg sees it (workspace/reading.py): its version, its words
                "dg": self.env.dg_version,
                "era": f"dg {self.env.dg_version}" if self.env.dg_version else "no dg found",
                "as_dg_sees_it": self.env.described,
                "dg_warnings": self.dg_warnings,
                # read by the plugin probe in the environment: null until it has answered
                "dagster_version": self.plugins.dagster_version if self.plugins else None,
                "dg_version": self.plugins.dg_version if self.plugins else None,
                "package_count": self.plugins.package_count if self.plugins else None,
                "shared_with": [_named(p, named) for p in self.shared_with],
                # what a sync of this project would take out of the shared environment (uv's plan)
                "sync_removes_from_shared": self.shared_removals,
            }
            if project.mode is not None:
                data["mode_setting"] = {
                    "file": str(project.mode.file) if project.mode.file else None,
                    "key": project.mode.key,
                    "line": project.mode.line,
                    "spelling": project.mode.spelling,
                }
        if self.plugins is not None:
            data["plugins"] = self.plugins.to_json()
        data["definitions_check"] = self.check_json()
        return data


def _location(project: Project) -> str | None:
    if project.error_file is None:
        return None
    return f"{project.error_file}:{project.error_line}" if project.error_line else str(project.error_file)


def _named(project: Project, named: Mapping[str, dict[str, str]] | None) -> dict[str, str]:
    found = named.get(project.id) if named is not None else None
    if found is not None and found["name"] == project.name:
        return found
    return {"id": project.id, "name": project.name}
