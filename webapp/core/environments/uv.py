"""What uv says of a project: `uv.lock`'s pins (read with tomllib: `[[package]]
name/version`), the requirements the project names itself, whether the lock is up to date
(`uv lock --check --offline`, cached on the stamps of `pyproject.toml` and `uv.lock`), the
lock's hash a job records before and after, the config file uv reads in a folder, and the
`uv pip list` that lists an environment's outdated and editable packages.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..disk.cache import DependencyCache, content_hash, stamp_all
from ..disk.files import MAX_CONFIG_BYTES, ConfigError, read_regular, read_toml
from ..disk.stamps import remembered
from ..workspace.dg import PYPROJECT
from ..workspace.locked import normalise, read_locked_versions
from .output import last_words
from .processes import Invocation, run
from .resolver import uv_workspace_root

if TYPE_CHECKING:
    from ..workspace.scan import Project
    from .resolver import ResolvedEnvironment, Resolver

LOCK_FILE = "uv.lock"
UV_CONFIG = "uv.toml"
LOCK_CHECK_TIMEOUT = 120.0

LOCK_UP_TO_DATE = "up_to_date"
LOCK_OUTDATED = "outdated"
LOCK_ABSENT = "absent"
LOCK_UNKNOWN = "unknown"
NEEDS_INDEX = (
    "needs the package index to decide: offline, uv cannot resolve a dependency that is not in its cache"
)

_REQUIREMENT_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def direct_requirements(pyproject: Path) -> list[str]:
    """Names the project asks for itself: dependencies, optional ones and dependency groups."""
    return list(remembered("direct requirements", pyproject, _read_direct_requirements))


def _read_direct_requirements(pyproject: Path) -> list[str]:
    try:
        data = tomllib.loads(read_regular(pyproject, MAX_CONFIG_BYTES).decode("utf-8-sig"))
    except (ConfigError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return []
    requirements: list[Any] = []
    project = data.get("project")
    if isinstance(project, dict):
        requirements += _list(project.get("dependencies"))
        optional = project.get("optional-dependencies")
        if isinstance(optional, dict):
            for group in optional.values():
                requirements += _list(group)
    groups = data.get("dependency-groups")
    if isinstance(groups, dict):
        for group in groups.values():
            requirements += _list(group)  # {include-group = ...} tables are skipped below
    tool = data.get("tool")
    tool_uv = tool.get("uv") if isinstance(tool, dict) else None
    if isinstance(tool_uv, dict):
        requirements += _list(tool_uv.get("dev-dependencies"))
    names = set()
    for requirement in requirements:
        if isinstance(requirement, str):
            match = _REQUIREMENT_NAME.match(requirement)
            if match:
                names.add(normalise(match.group(1)))
    return sorted(names)


def pip_list_invocation(resolver: Resolver, env: ResolvedEnvironment, which: str) -> Invocation:
    """uv's JSON list of the environment's `--outdated` (asks the index) or `--editable` (local)
    packages, run at the project's root so uv reads its settings there."""
    root = env.uv_root or env.project_root
    args = ["pip", "list", which, "--format", "json", "--color", "never", "-p", str(env.python)]
    return resolver.uv_invocation(root, args)


def json_list(text: str) -> list[dict[str, Any]]:
    """uv's JSON list (stdout; its notes on stderr are merged in, so the JSON line is looked for)."""
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith("["):
            try:
                items = json.loads(line)
            except ValueError:
                continue
            return [item for item in items if isinstance(item, dict)]
    raise ValueError("uv printed no JSON list")


def settings_sources(env: ResolvedEnvironment) -> tuple[Path | None, ...]:
    """What uv's answer for an environment depends on beside it: the uv workspace root (uv reads
    a member's settings there, not in the member) and the config uv finds from there and from
    the root it runs in. Projects with the same interpreter and these share one answer."""
    workspace = env.uv_root or uv_workspace_root(env.project_root)
    root = env.uv_root or env.project_root
    return (workspace, project_config(root), project_config(workspace) if workspace else None)


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def project_config(root: Path) -> Path | None:
    """The project-level config file uv reads when it runs in `root`, found as uv finds it: in
    `root` or the nearest folder above it, a `uv.toml` (anything there but a folder), else a
    `pyproject.toml` with a `[tool.uv]` table; one without that table, or one that cannot be
    parsed (uv warns and goes on), is passed over. None when there is none. A uv workspace
    member's settings are read at the workspace root instead: see `settings_sources`."""
    for folder in (root, *root.parents):
        config = folder / UV_CONFIG
        if config.exists() and not config.is_dir():
            return config
        pyproject = folder / PYPROJECT
        if pyproject.is_file():
            try:
                tool = read_toml(pyproject).data.get("tool")
            except ConfigError:
                continue
            if isinstance(tool, dict) and "uv" in tool:
                return pyproject
    return None


@dataclass(frozen=True)
class LockFacts:
    """The lock of one project: where it is, what it pins, what is asked for, is it current."""

    lock_file: Path | None  # the uv.lock that governs the project, None when there is none
    status: str  # up_to_date / outdated / absent / unknown
    reason: str  # uv's own words
    locked: dict[str, str] = field(default_factory=dict)
    direct: list[str] = field(default_factory=list)
    cached: bool = False

    @property
    def present(self) -> bool:
        return self.lock_file is not None

    def summary(self) -> dict[str, Any]:
        """What `environment.lock` of a project's JSON says: status, present, reason."""
        return {"status": self.status, "present": self.present, "reason": self.reason}

    def to_json(self) -> dict[str, Any]:
        return {
            "lock_file": str(self.lock_file) if self.lock_file else None,
            "status": self.status,
            "reason": self.reason,
            "locked": self.locked,
            "direct": self.direct,
            "cached": self.cached,
        }


def governing_lock(project: Project, env: ResolvedEnvironment) -> Path:
    """The uv.lock uv uses for this project: the uv workspace's, else the project's own."""
    root = env.uv_root or project.path
    return root / LOCK_FILE


def lock_hash(project: Project, env: ResolvedEnvironment) -> str | None:
    """sha256 of the uv.lock that governs the project, for the history of jobs."""
    digest = content_hash(governing_lock(project, env))
    return None if digest in ("absent", "unreadable") else digest


class LockInspector:
    """Lock facts for persistent_uv projects; `uv lock --check` runs only when a file changed."""

    def __init__(self, resolver: Resolver, cache: DependencyCache) -> None:
        self.resolver = resolver
        self.cache = cache

    def _cache_name(self, project: Project) -> str:
        return f"lock:{project.path}"

    def _cache_key(self, env: ResolvedEnvironment) -> str:
        parts = f"{env.uv_root}:{self.resolver.uv.path}"
        return hashlib.sha256(parts.encode()).hexdigest()

    def _dependencies(self, project: Project, env: ResolvedEnvironment) -> dict[str, list[str]]:
        root = env.uv_root or project.path
        files = {str(project.path / PYPROJECT), str(root / PYPROJECT), str(root / LOCK_FILE)}
        return {"file": sorted(files)}

    def cached(self, project: Project, env: ResolvedEnvironment) -> LockFacts | None:
        """The facts if neither pyproject.toml nor uv.lock changed since; never spawns."""
        value = self.cache.load(self._cache_name(project), self._cache_key(env))
        if value is None:
            return None
        return self._facts(project, env, value["status"], value["reason"], cached=True)

    def facts(self, project: Project, env: ResolvedEnvironment) -> LockFacts:
        """Cached facts, or a fresh `uv lock --check --offline` (never writes the lock)."""
        known = self.cached(project, env)
        if known is not None:
            return known
        lock = governing_lock(project, env)
        dependencies = self._dependencies(project, env)
        stamps = stamp_all(dependencies)  # taken before uv looks, so a racing edit is seen
        status, reason = self._check(project, env, lock)
        if status != LOCK_UNKNOWN:
            self.cache.store(
                self._cache_name(project),
                self._cache_key(env),
                {"status": status, "reason": reason},
                dependencies,
                stamps,
            )
        return self._facts(project, env, status, reason, cached=False)

    def _check(self, project: Project, env: ResolvedEnvironment, lock: Path) -> tuple[str, str]:
        refused = self.resolver.inputs_problem(env)  # uv would block on a FIFO, or read a giant
        if refused:
            return LOCK_UNKNOWN, refused
        if not lock.is_file():
            return LOCK_ABSENT, f"no uv.lock at {lock}"
        problem = self.resolver.unavailable(env)
        if problem:
            return LOCK_UNKNOWN, problem
        invocation = self.resolver.uv_invocation(env.project_root, ["lock", "--check", "--offline"])
        result = run(invocation, capture=True, timeout=LOCK_CHECK_TIMEOUT)
        words = last_words(result.text)
        if result.error:
            return LOCK_UNKNOWN, result.error
        if result.exit_code == 0:
            return LOCK_UP_TO_DATE, words or "uv: the lock is up to date"
        if "needs to be updated" in result.text:
            return LOCK_OUTDATED, words
        if "No solution found" in result.text:
            # offline, uv cannot resolve what is not in its cache: a lock only behind looks like this
            return LOCK_UNKNOWN, NEEDS_INDEX
        return LOCK_UNKNOWN, words or f"uv exited {result.exit_code}"

    def _facts(
        self, project: Project, env: ResolvedEnvironment, status: str, reason: str, *, cached: bool
    ) -> LockFacts:
        lock = governing_lock(project, env)
        present = lock.is_file()
        return LockFacts(
            lock_file=lock if present else None,
            status=status,
            reason=reason,
            locked=read_locked_versions(lock) if present else {},
            direct=direct_requirements(project.path / "pyproject.toml"),
            cached=cached,
        )
