"""Which installed packages have a newer release on the project's own index.

`uv pip list --outdated --format json -p <python>` runs at the root uv treats as the
project, so uv itself reads the project's `[tool.uv]` settings there (`[[tool.uv.index]]`,
`index-url`, `find-links`, `exclude-newer`): the answer is what uv would resolve from,
with no second reading of those settings here to drift from uv's.

Answers are kept in the dependency cache for `lifetime` seconds and while the
environment's site-packages and the project's pyproject.toml are unchanged; a stale
one is still shown while a background check (one at a time, at low CPU priority)
replaces it. An index that cannot be reached is one message per project, with the
moment it was first missed, never an error per package.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..disk.cache import DependencyCache, stamp_all
from ..disk.times import iso
from ..environments.output import last_words
from ..environments.processes import Invocation, run
from ..environments.resolver import ResolvedEnvironment, Resolver
from ..environments.uv import direct_requirements
from ..workspace.locked import normalise
from ..workspace.scan import Project

OUTDATED_LIFETIME = 6 * 3600.0  # an index changes slowly; a check costs a request per package
FAILED_RETRY = 600.0  # an unreachable index is asked again after this long, not at every look
OUTDATED_TIMEOUT = 300.0
LOW_PRIORITY = 10  # nice value of a background check: it must never slow a sync or a page


@dataclass(frozen=True)
class OutdatedPackage:
    name: str
    version: str
    latest: str
    direct: bool  # the project's pyproject.toml asks for it by name

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "latest": self.latest, "direct": self.direct}


@dataclass(frozen=True)
class OutdatedReport:
    """One project's outdated packages, direct dependencies first; `known` False until uv answered."""

    project_id: str
    name: str
    packages: tuple[OutdatedPackage, ...] = ()
    index_error: str | None = None  # "index not reachable since ...": once per project
    checked_at: float | None = None
    known: bool = False
    pending: bool = False  # a check is running; the answer replaces this one
    reason: str | None = None  # why there is no answer (no environment, uv missing)
    latest: dict[str, str] = field(default_factory=dict)  # name -> newest version, for tables

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.project_id,
            "name": self.name,
            "outdated": [package.to_json() for package in self.packages],
            "index_error": self.index_error,
        }


def outdated_invocation(resolver: Resolver, env: ResolvedEnvironment) -> Invocation:
    """uv's own list of outdated packages of this environment, from the project's root."""
    root = env.uv_root or env.project_root
    args = ["pip", "list", "--outdated", "--format", "json", "--color", "never", "-p", str(env.python)]
    return resolver.uv_invocation(root, args)


def parse_outdated(text: str, direct: set[str]) -> list[OutdatedPackage]:
    """uv's JSON (stdout; its notes on stderr are merged in, so the JSON line is looked for)."""
    for line in reversed(text.splitlines()):
        line = line.strip()
        if not line.startswith("["):
            continue
        try:
            items = json.loads(line)
        except ValueError:
            continue
        found = [
            OutdatedPackage(
                normalise(i["name"]), i["version"], i["latest_version"], normalise(i["name"]) in direct
            )
            for i in items
            if isinstance(i, dict) and {"name", "version", "latest_version"} <= i.keys()
        ]
        return sorted(found, key=lambda p: (not p.direct, p.name))
    raise ValueError("uv printed no JSON list")


def _lower_priority(pid: int) -> None:
    with contextlib.suppress(OSError):  # gone already, or not allowed: it runs at normal priority
        os.setpriority(os.PRIO_PROCESS, pid, LOW_PRIORITY)


class OutdatedChecker:
    """Outdated packages per project: cached, refreshed in the background one project at a time."""

    def __init__(
        self, resolver: Resolver, cache: DependencyCache, lifetime: float = OUTDATED_LIFETIME
    ) -> None:
        self.resolver = resolver
        self.cache = cache
        self.lifetime = lifetime
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="outdated")
        self._running: dict[Path, Future] = {}
        self._lock = threading.Lock()
        self.listeners: list[Callable[[Path], None]] = []  # told when a project's answer changed

    @staticmethod
    def _name(project: Project) -> str:
        return f"outdated:{project.path}"

    def _key(self, env: ResolvedEnvironment) -> str:
        return f"{env.mode}:{env.python}:{self.resolver.uv.path}"

    @staticmethod
    def _dependencies(project: Project, env: ResolvedEnvironment) -> dict[str, list[str]]:
        root = env.uv_root or project.path
        files = {str(project.path / "pyproject.toml"), str(root / "pyproject.toml")}
        return {"site": [str(p) for p in env.site_packages], "file": sorted(files)}

    def report(
        self, project: Project, env: ResolvedEnvironment | None, *, wait: bool = False
    ) -> OutdatedReport:
        """What is known; a missing or expired answer is checked (in the background unless `wait`)."""
        if env is None or not env.exists:
            return OutdatedReport(project.id, project.name, reason="the environment does not exist yet")
        problem = self.resolver.unavailable(env)
        if problem:
            return OutdatedReport(project.id, project.name, reason=problem)
        value = self.cache.load(self._name(project), self._key(env))
        fresh = value is not None and not self._expired(value)
        if fresh:
            return self._from_value(project, value)
        if wait:
            return self._from_value(project, self.check(project, env))
        pending = self._submit(project, env)
        stale = value or self.cache.last_stored(self._name(project), self._key(env))
        if stale is None:
            return OutdatedReport(project.id, project.name, pending=pending)
        report = self._from_value(project, stale)
        return OutdatedReport(**{**report.__dict__, "pending": pending})

    def _expired(self, value: dict[str, Any]) -> bool:
        age = time.time() - (value.get("checked_at") or 0)
        return age > (FAILED_RETRY if value.get("index_error") else self.lifetime)

    def check(self, project: Project, env: ResolvedEnvironment) -> dict[str, Any]:
        """Ask uv now and remember the answer."""
        dependencies = self._dependencies(project, env)
        stamps = stamp_all(dependencies)  # before uv looks: an install meanwhile makes it stale
        result = run(
            outdated_invocation(self.resolver, env),
            capture=True,
            timeout=OUTDATED_TIMEOUT,
            on_start=_lower_priority,
        )
        now = time.time()
        direct = set(direct_requirements(project.path / "pyproject.toml"))
        packages: list[OutdatedPackage] | None = None
        if result.ok:
            with contextlib.suppress(ValueError):
                packages = parse_outdated(result.text, direct)
        if packages is not None:
            value: dict[str, Any] = {"packages": [p.to_json() for p in packages], "checked_at": now}
        else:
            # the last good answer stays, said to be from before the index went away
            before = self.cache.last_stored(self._name(project), self._key(env)) or {}
            since = before.get("failing_since") or now
            words = result.error or last_words(result.text) or f"uv exited {result.exit_code}"
            value = {
                "packages": before.get("packages", []),
                "checked_at": now,
                "failing_since": since,
                "index_error": f"index not reachable since {iso(since)}: {words}",
            }
        self.cache.store(self._name(project), self._key(env), value, dependencies, stamps)
        return value

    @staticmethod
    def _from_value(project: Project, value: dict[str, Any]) -> OutdatedReport:
        packages = tuple(
            OutdatedPackage(p["name"], p["version"], p["latest"], bool(p["direct"]))
            for p in value["packages"]
        )
        return OutdatedReport(
            project.id,
            project.name,
            packages,
            index_error=value.get("index_error"),
            checked_at=value.get("checked_at"),
            known=True,
            latest={p.name: p.latest for p in packages},
        )

    def _submit(self, project: Project, env: ResolvedEnvironment) -> bool:
        with self._lock:
            if project.path in self._running:
                return True
            try:
                future = self._pool.submit(self.check, project, env)
            except RuntimeError:  # shut down: the server is stopping
                return False
            self._running[project.path] = future

        def done(_: Future) -> None:
            with self._lock:
                self._running.pop(project.path, None)
            for listener in self.listeners:
                listener(project.path)

        future.add_done_callback(done)
        return True

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
