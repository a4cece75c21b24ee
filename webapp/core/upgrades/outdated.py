"""Which installed packages have a newer release on the project's own index.

`uv pip list --outdated --format json -p <python>` runs at the root uv treats as the
project, so uv itself reads the project's `[tool.uv]` settings there (`[[tool.uv.index]]`,
`index-url`, `find-links`, `exclude-newer`): the answer is what uv would resolve from,
with no second reading of those settings here to drift from uv's.

uv's answer is the environment's, seen from that root's config: projects that share an
environment and the config uv finds (every `active` project of a workspace shares the
interpreter envboard runs in) share one check, and each marks its own direct requirements.
Answers are kept in the dependency cache for `lifetime` seconds and while the
environment's site-packages and the project's pyproject.toml are unchanged; a stale
one is still shown while a background check (one at a time, at low CPU priority)
replaces it. An index that cannot be reached is one message per project, with the
moment it was first missed, never an error per package.
"""

from __future__ import annotations

import contextlib
import hashlib
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
from ..environments.processes import run
from ..environments.resolver import ResolvedEnvironment, Resolver
from ..environments.uv import (
    UV_CONFIG,
    direct_requirements,
    json_list,
    pip_list_invocation,
    settings_sources,
)
from ..workspace.dg import PYPROJECT
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
    editable: frozenset[str] = frozenset()  # installed from their own folder: no index release applies
    offline: bool = False  # uv ran offline: a release it has not seen is not known to be absent

    def newest(self, name: str, version: str | None) -> tuple[str | None, str | None]:
        """The newest release of an installed package on the project's index, or None and why
        that is not known. uv lists only the outdated ones: any other it looked at is newest."""
        if version is None:
            return None, "not installed"
        if name in self.editable:
            return None, "installed from its own folder (editable), not from an index"
        if name in self.latest:
            return self.latest[name], None
        if not self.known:
            return None, self.reason or "not checked yet: the project's index is being asked"
        if self.index_error:
            return None, self.index_error
        if self.offline:
            return None, "uv runs offline (UV_OFFLINE): newer releases on the index are not seen"
        return version, None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.project_id,
            "name": self.name,
            "outdated": [package.to_json() for package in self.packages],
            "index_error": self.index_error,
        }


def outdated_packages(listed: list[dict[str, Any]], direct: set[str]) -> list[OutdatedPackage]:
    """uv's JSON list, direct requirements first; an editable install is left out: uv compares it
    with whatever release of that name the index has (a project called `demo` against PyPI's
    `demo`), which is not its own."""
    found = [
        OutdatedPackage(
            normalise(i["name"]), str(i["version"]), str(i["latest_version"]), normalise(i["name"]) in direct
        )
        for i in listed
        if {"name", "version", "latest_version"} <= i.keys() and not i.get("editable_project_location")
    ]
    return sorted(found, key=lambda p: (not p.direct, p.name))


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
        # grows whenever an answer lists other outdated packages than the one before it: what
        # is built from the answers (the Versions matrix's marks) is keyed on it
        self.generation = 0
        # uv's settings from the environment (UV_INDEX_URL, UV_OFFLINE, ...) change its answer: a
        # command line run with others must not leave its answer for the server's projects
        settings = sorted((k, v) for k, v in resolver.environ.items() if k.startswith("UV_"))
        self._uv_settings = hashlib.sha256(repr(settings).encode()).hexdigest()[:16]

    @staticmethod
    def _name(project: Project) -> str:
        return f"outdated:{project.path}"

    def _key(self, env: ResolvedEnvironment) -> str:
        return f"{env.mode}:{env.python}:{self.resolver.uv.path}:{self._uv_settings}"

    @staticmethod
    def _dependencies(project: Project, env: ResolvedEnvironment, sources: tuple) -> dict[str, list[str]]:
        """Site-packages and the files uv may read settings from (a uv.toml made later counts)."""
        root = env.uv_root or project.path
        files = {str(folder / name) for folder in (project.path, root) for name in (PYPROJECT, UV_CONFIG)}
        files.update(str(config) for config in sources[1:] if config is not None)
        return {"site": [str(p) for p in env.site_packages], "file": sorted(files)}

    def report(
        self, project: Project, env: ResolvedEnvironment | None, *, wait: bool = False, ask: bool = True
    ) -> OutdatedReport:
        """What is known; a missing or expired answer is checked (in the background unless `wait`;
        not at all without `ask`: a command that ends now must not leave a check to wait for)."""
        if project.error:  # no environment can be resolved from a config dg rejects
            return OutdatedReport(project.id, project.name, reason="its config has an error; see the project")
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
            return self._from_value(project, self.check(project, env, shared=True))
        pending = self._submit(project, env) if ask else False
        stale = value or self.cache.last_stored(self._name(project), self._key(env))
        if stale is None:
            return OutdatedReport(project.id, project.name, pending=pending)
        report = self._from_value(project, stale)
        return OutdatedReport(**{**report.__dict__, "pending": pending})

    def _expired(self, value: dict[str, Any]) -> bool:
        age = time.time() - (value.get("checked_at") or 0)
        failed = value.get("index_error") or value.get("error")
        return age > (FAILED_RETRY if failed else self.lifetime)

    def check(self, project: Project, env: ResolvedEnvironment, *, shared: bool = False) -> dict[str, Any]:
        """Ask uv now, or with `shared` take the fresh answer a project sharing the environment
        got (see `_uv_answer`); mark the project's own direct requirements, and remember it."""
        sources = settings_sources(env)
        dependencies = self._dependencies(project, env, sources)
        stamps = stamp_all(dependencies)  # before uv looks: an install meanwhile makes it stale
        answer = self._uv_answer(env, sources, shared)
        now = answer["checked_at"]
        direct = set(direct_requirements(project.path / "pyproject.toml"))
        if "listed" in answer:
            value: dict[str, Any] = {
                "packages": [p.to_json() for p in outdated_packages(answer["listed"], direct)],
                "checked_at": now,
                "editable": answer["editable"],
                "offline": answer["offline"],
            }
        else:
            # the last good answer stays, said to be from before the index went away
            before = self.cache.last_stored(self._name(project), self._key(env)) or {}
            since = before.get("failing_since") or now
            words = answer["error"]
            value = {
                "packages": before.get("packages", []),
                "editable": before.get("editable", []),
                "checked_at": now,
                "failing_since": since,
                "index_error": f"index not reachable since {iso(since)}: {words}",
            }
        shown = (self.cache.last_stored(self._name(project), self._key(env)) or {}).get("packages", [])
        self.cache.store(self._name(project), self._key(env), value, dependencies, stamps)
        if value["packages"] != shown:
            with self._lock:
                self.generation += 1
        return value

    def _uv_answer(self, env: ResolvedEnvironment, sources: tuple, shared: bool) -> dict[str, Any]:
        """uv's list for the environment, shared by the projects with the same `settings_sources`
        (2,000 `active` projects ask once); a failure is kept too, until FAILED_RETRY."""
        parts = (env.mode, env.python, env.venv, *sources)
        name = "outdated-environment:" + ":".join(str(part) for part in parts)
        configs = [str(config) for config in sources[1:] if config is not None]
        dependencies = {"site": [str(p) for p in env.site_packages], "file": configs}
        kept = self.cache.load(name, self._key(env)) if shared else None
        if kept is not None and not self._expired(kept):
            return kept
        stamps = stamp_all(dependencies)
        invocation = pip_list_invocation(self.resolver, env, "--outdated")
        result = run(invocation, capture=True, timeout=OUTDATED_TIMEOUT, on_start=_lower_priority)
        answer: dict[str, Any] = {"checked_at": time.time()}
        listed = None
        if result.ok:
            with contextlib.suppress(ValueError):
                listed = json_list(result.text)
        if listed is None:
            answer["error"] = result.error or last_words(result.text) or f"uv exited {result.exit_code}"
        else:
            # uv offline lists nothing it has not cached: "not listed" is no longer "newest"
            offline = invocation.env.get("UV_OFFLINE", "").lower() in ("1", "true", "yes", "on")
            answer.update(listed=listed, editable=self._editables(env), offline=offline)
        self.cache.store(name, self._key(env), answer, dependencies, stamps)
        return answer

    def _editables(self, env: ResolvedEnvironment) -> list[str]:
        invocation = pip_list_invocation(self.resolver, env, "--editable")
        result = run(invocation, capture=True, timeout=OUTDATED_TIMEOUT, on_start=_lower_priority)
        try:
            return sorted(normalise(i["name"]) for i in json_list(result.text) if "name" in i)
        except ValueError:
            return []

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
            editable=frozenset(value.get("editable", ())),
            offline=bool(value.get("offline")),
        )

    def _submit(self, project: Project, env: ResolvedEnvironment) -> bool:
        with self._lock:
            if project.path in self._running:
                return True
            try:
                future = self._pool.submit(self.check, project, env, shared=True)
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
