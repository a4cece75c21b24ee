"""One project's data: its page, a mode change's preview, its packages and its load check.

The data of `/projects/<id>` and its fragments (environment, plugins, actions, packages,
definitions), of `/projects/<id>/mode?to=`, and of their JSON twins and commands. Each
function takes one project of the monitor's snapshot (None for an id the scan did not
produce); apart from the overview (`overview.py`), which is about all projects at once.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..app import Envboard
from ..environments.resolver import ResolvedEnvironment
from ..jobs.sync import sync_invocation
from ..live.state import ProjectState
from ..probe.runner import probe_invocation
from ..probe.webserver import location_of
from ..workspace import modes
from ..workspace.dg import MODE_UV
from ..workspace.mode_preview import PreviewsBusy, preview
from .inventory import Packages, package_list


@dataclass(frozen=True)
class ProjectPage:
    state: ProjectState
    commands: dict[str, str]  # the exact command lines envboard runs for it, as a person types them
    isolation: dict[str, Any]  # whether its code is kept from envboard's secrets, and how
    webserver: dict[str, Any] | None = None  # the Dagster webserver's own load status (--dagster-url)

    def to_json(self) -> dict[str, Any]:
        data = {**self.state.to_json(), "commands": self.commands, "isolation": self.isolation}
        return {**data, "webserver": self.webserver}


def project(envboard: Envboard, project_id: str) -> ProjectPage | None:
    """None when the id is not one the scan produced."""
    state = envboard.monitor.snapshot.get(project_id)
    if state is None:
        return None
    commands, isolation = launcher_commands(envboard, state), envboard.board.confinement.to_json()
    return ProjectPage(state, commands, isolation, webserver_status(envboard, state))


def webserver_status(envboard: Envboard, state: ProjectState) -> dict[str, Any] | None:
    """What the Dagster webserver last said of the project's code location, never waited for;
    None without --dagster-url, `asked_at_iso` None while the first answer is awaited."""
    webserver = envboard.board.webserver
    if webserver is None:
        return None
    location = location_of(state.project)
    answer = webserver.status(location)
    if answer is not None:
        return answer.to_json()
    return {
        "url": webserver.url,
        "location": location,
        **dict.fromkeys(("reachable", "load_status", "loads", "error", "reason", "problem", "asked_at_iso")),
    }


def launcher_commands(envboard: Envboard, state: ProjectState) -> dict[str, str]:
    if state.env is None:
        return {}
    resolver = envboard.board.resolver
    probe = probe_invocation(resolver, state.env, Path("ANSWER.json"), Path("REQUEST.json"))
    # quoted as a shell reads them: a folder named `$(...)` must not run when pasted
    commands = {"plugin probe": f"(cd {shlex.quote(str(probe.cwd))} && {probe.display()})"}
    if state.env.mode == MODE_UV:
        sync = sync_invocation(resolver, state.project.path)
        commands["sync"] = f"(cd {shlex.quote(str(sync.cwd))} && {sync.display()})"
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
        change = preview(state.project, target)
    except modes.ModeChangeError as exc:
        return ModePreview(state, target, None, str(exc), None, busy=isinstance(exc, PreviewsBusy))
    future = envboard.board.resolver.resolve(state.project, mode=target)
    return ModePreview(state, target, change, None, future)


def packages(envboard: Envboard, project_id: str, q: str = "", *, wait: bool = False) -> Packages | None:
    """None when the id is not one the scan produced. The newest releases come from the outdated
    packages' cached answer (a missing one is asked in the background, or now when `wait`)."""
    snapshot = envboard.monitor.snapshot
    state = snapshot.get(project_id)
    if state is None:
        return None
    outdated = envboard.outdated.report(state.project, state.env, wait=wait)
    return replace(package_list(state, q), version=snapshot.version, outdated=outdated)


# -- does it load: the definitions load check ------------------------------------------------


@dataclass(frozen=True)
class Definitions:
    """One project's load check: verdict, located error, counts and the keys matching `q`."""

    state: ProjectState
    q: str = ""
    webserver: dict[str, Any] | None = None  # the Dagster webserver's own status of the location

    @property
    def check(self) -> dict[str, Any]:
        return self.state.check_json()

    @property
    def keys(self) -> dict[str, list[str]]:
        query = self.q.strip().lower()
        found = self.check.get("keys") or {}
        return {kind: [k for k in keys if query in k.lower()] for kind, keys in found.items()}

    def to_json(self) -> dict[str, Any]:
        project = self.state.project
        data = {"id": project.id, "name": project.name, **self.check, "keys": self.keys, "q": self.q}
        return {**data, "webserver": self.webserver}


def definitions(envboard: Envboard, project_id: str, q: str = "") -> Definitions | None:
    """None when the id is not one the scan produced."""
    state = envboard.monitor.snapshot.get(project_id)
    return None if state is None else Definitions(state, q, webserver_status(envboard, state))
