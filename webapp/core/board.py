"""The board: one object that knows the workspace, its environments and their plugins.

The command line and the web pages both read projects through it, so both show the
same facts built by the same code. Slow work (uv's status check, the plugin probe)
runs in a bounded pool, deduplicated so two viewers never start the same probe twice.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .cache import DependencyCache, file_stamp
from .environment import (
    STATUS_MISSING,
    ActivePython,
    EnvironmentStatus,
    ResolvedEnvironment,
    Resolver,
)
from .launcher import find_uv
from .plugins import PluginList, PluginProbe, cache_key, status_dependencies
from .workspace import Project, Workspace, scan_workspace

FAILED_PROBE_RETRY = 60.0


def default_state_dir() -> Path:
    configured = os.environ.get("XDG_STATE_HOME")
    base = Path(configured) if configured else Path.home() / ".local" / "state"
    return base / "envboard"


@dataclass(frozen=True)
class Settings:
    workspace: Path
    state_dir: Path = field(default_factory=default_state_dir)
    active_python: str | None = None
    uv: str | None = None
    cache_dir: Path | None = None
    workers: int = max(1, os.cpu_count() or 1)

    @property
    def resolved_cache_dir(self) -> Path:
        return self.cache_dir or self.state_dir / "cache"


@dataclass
class ProjectState:
    """Everything known about one project right now; plugins may still be on their way."""

    project: Project
    env: ResolvedEnvironment | None = None
    status: EnvironmentStatus | None = None
    plugins: PluginList | None = None
    pending: bool = False  # a status check or probe is running for it
    last_change: float | None = None

    @property
    def id(self) -> str:
        return self.project.id

    @property
    def status_name(self) -> str:
        if self.project.error:
            return "error"
        return self.status.status if self.status else "checking"

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
            plugins.probed_at if plugins else None,
            plugins.failure if plugins else None,
            self.pending,
            self.last_change,
        )

    def to_json(self) -> dict[str, Any]:
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
        }
        if self.env is not None:
            data["environment"] = {
                "python": str(self.env.python) if self.env.python else None,
                "python_version": self.python_version,
                "venv": str(self.env.venv) if self.env.venv else None,
                "status": self.status.status if self.status else "checking",
                "reason": self.status.reason if self.status else "uv's check is running",
                "drift": list(self.status.drift) if self.status else [],
                "why": list(self.env.why),
                "warnings": list(self.env.warnings),
                # read by the plugin probe in the environment: null until it has answered
                "dagster_version": self.plugins.dagster_version if self.plugins else None,
                "dg_version": self.plugins.dg_version if self.plugins else None,
                "package_count": self.plugins.package_count if self.plugins else None,
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
        return data


def _location(project: Project) -> str | None:
    if project.error_file is None:
        return None
    return f"{project.error_file}:{project.error_line}" if project.error_line else str(project.error_file)


class Board:
    """Shared by the CLI and the web app; safe to use from many threads."""

    def __init__(self, settings: Settings, environ: dict[str, str] | None = None) -> None:
        self.settings = settings
        self.uv = find_uv(settings.uv)
        self.active = ActivePython.detect(settings.active_python, environ)
        self.resolver = Resolver(self.active, self.uv, environ)
        self.cache = DependencyCache(settings.resolved_cache_dir)
        self.probe = PluginProbe(self.resolver, self.cache)
        self._pool = ThreadPoolExecutor(max_workers=settings.workers, thread_name_prefix="probe")
        self._running: dict[str, Future] = {}
        self._busy: dict[Path, int] = {}  # project path -> background tasks running for it
        self._lock = threading.Lock()
        self._failures: dict[str, PluginList] = {}
        self.task_listeners: list[Callable[[], None]] = []  # told when a background task ends
        self._workspace: Workspace = scan_workspace(settings.workspace)
        self._workspace_stamp = self._config_stamp(self._workspace)

    # -- workspace ---------------------------------------------------------------------------

    @property
    def workspace(self) -> Workspace:
        return self._workspace

    def rescan(self) -> Workspace:
        """Scan again when a config file changed (or a project folder appeared or went)."""
        current = self._config_stamp(self._workspace)
        if current != self._workspace_stamp:
            workspace = scan_workspace(self.settings.workspace)
            self._workspace = workspace
            self._workspace_stamp = self._config_stamp(workspace)
        return self._workspace

    @staticmethod
    def _config_stamp(workspace: Workspace) -> tuple:
        paths = [workspace.root / "dg.toml", workspace.root / "pyproject.toml"]
        for project in workspace.projects:
            paths += [project.path, project.path / "dg.toml", project.path / "pyproject.toml"]
        return tuple(file_stamp(p) for p in paths)

    def project(self, project_id: str) -> Project | None:
        return self._workspace.get(project_id)

    # -- one project -------------------------------------------------------------------------

    def resolve(self, project: Project) -> ResolvedEnvironment | None:
        return None if project.error else self.resolver.resolve(project)

    def cached_status(self, project: Project, env: ResolvedEnvironment) -> EnvironmentStatus | None:
        """The status if it is known without a subprocess (or cannot need one)."""
        if env.mode != "persistent_uv" or not env.exists:
            return self.resolver.check_status(env)  # no subprocess in these cases
        value = self.cache.load(f"status:{project.path}", self._status_key(env))
        if not value:
            return None
        return EnvironmentStatus(value["status"], value["reason"], tuple(value.get("drift", ())))

    def check_status(self, project: Project, env: ResolvedEnvironment) -> EnvironmentStatus:
        status = self.resolver.check_status(env)
        if env.mode == "persistent_uv" and status.status != STATUS_MISSING:
            self.cache.store(
                f"status:{project.path}",
                self._status_key(env),
                {"status": status.status, "reason": status.reason, "drift": list(status.drift)},
                status_dependencies(project, env),
            )
        return status

    def _status_key(self, env: ResolvedEnvironment) -> str:
        return f"{env.mode}:{env.python}:{self.uv.path}"

    def state(self, project: Project, *, wait: bool = False, refresh: bool = False) -> ProjectState:
        """What is known now; with `wait`, also run what is missing (status check, probe)."""
        state = ProjectState(project, last_change=_last_change(project))
        env = self.resolve(project)
        if env is None:
            return state
        state.env = env
        state.status = None if refresh else self.cached_status(project, env)
        state.plugins = None if refresh else self.probe.cached(project, env)
        needs_status = state.status is None
        needs_plugins = state.plugins is None and env.exists
        if wait:
            if needs_plugins or (refresh and env.exists):
                state.plugins = self.probe.probe(project, env)
            if needs_status or state.plugins is not None and not state.plugins.cached:
                state.status = self.check_status(project, env)
            return state
        if needs_plugins:
            failed = self._failures.get(self._probe_name(project, env))
            if failed is not None and time.time() - (failed.probed_at or 0) < FAILED_PROBE_RETRY:
                state.plugins, needs_plugins = failed, False
        if needs_status:
            self._submit(f"status:{project.path}", lambda: self.check_status(project, env), project)
        if needs_plugins:
            self._submit(self._probe_name(project, env), lambda: self._probe_task(project, env), project)
        state.pending = self.is_busy(project)
        return state

    @staticmethod
    def _probe_name(project: Project, env: ResolvedEnvironment) -> str:
        return f"plugins:{project.path}:{cache_key(project, env)}"

    def _probe_task(self, project: Project, env: ResolvedEnvironment) -> PluginList:
        # a failed probe is not cached on disk; remember it a while so it is not retried in a loop
        result = self.probe.probe(project, env)
        name = self._probe_name(project, env)
        if result.failure:
            self._failures[name] = result
        else:
            self._failures.pop(name, None)
        return result

    def refresh_plugins(self, project: Project) -> Future | None:
        """Probe again, bypassing the cache, in the background (deduplicated)."""
        env = self.resolve(project)
        if env is None:
            return None
        return self._submit(self._probe_name(project, env), lambda: self._probe_task(project, env), project)

    def is_busy(self, project: Project) -> bool:
        with self._lock:
            return self._busy.get(project.path, 0) > 0

    def _submit(self, name: str, work: Callable[[], Any], project: Project) -> Future:
        with self._lock:
            running = self._running.get(name)
            if running is not None:
                return running
            future = self._pool.submit(work)
            self._running[name] = future
            self._busy[project.path] = self._busy.get(project.path, 0) + 1

        def forget(_: Future) -> None:
            with self._lock:
                if self._running.get(name) is future:
                    del self._running[name]
                    self._busy[project.path] -= 1
            for listener in self.task_listeners:
                listener()

        future.add_done_callback(forget)
        return future

    # -- the whole workspace -----------------------------------------------------------------

    def states(self, *, wait: bool = False, refresh: bool = False) -> list[ProjectState]:
        projects = self._workspace.projects
        if not wait:
            return [self.state(p) for p in projects]
        # probes of different projects in parallel, bounded by the pool's size
        futures = [self._pool.submit(self.state, p, wait=True, refresh=refresh) for p in projects]
        return [f.result() for f in futures]

    def report(self, states: list[ProjectState], include_version: bool = True) -> dict[str, Any]:
        return {
            "workspace": str(self._workspace.root),
            "workspace_kind": self._workspace.kind,
            "workspace_error": self._workspace.error,
            "active_python": {
                "python": str(self.active.python) if self.active.python else None,
                "reason": self.active.reason,
                "version": self.active.version if include_version else None,
            },
            "uv": {"path": self.uv.path, "reason": self.uv.reason},
            "projects": [s.to_json() for s in states],
        }

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _last_change(project: Project) -> float | None:
    """The newest change we can see: config, lock file or installed packages."""
    candidates = [
        project.path / "pyproject.toml",
        project.path / "dg.toml",
        project.path / "uv.lock",
        project.path / ".venv",
    ]
    newest = None
    for path in candidates:
        try:
            mtime = path.stat().st_mtime
        except OSError:
            continue
        newest = mtime if newest is None else max(newest, mtime)
    return newest
