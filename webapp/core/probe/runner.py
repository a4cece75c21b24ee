"""A project's plugin list: registry modules and component types, probed in its environment."""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..disk.cache import DependencyCache, stamp_all
from ..disk.files import MAX_ANSWER_BYTES, ConfigError, read_regular
from ..disk.scratch import ScratchRoot
from ..disk.times import iso
from ..environments.processes import run
from ..environments.resolver import ResolvedEnvironment, Resolver
from ..environments.uv import LOCK_FILE
from ..workspace.dg import DG_TOML, ENTRY_POINT_GROUPS, MODE_UV, PYPROJECT
from ..workspace.scan import Project

PROBE_SCRIPT = Path(__file__).with_name("script.py")
PROBE_VERSION = hashlib.sha256(PROBE_SCRIPT.read_bytes()).hexdigest()[:16]
PROBE_TIMEOUT = 600.0  # uv may sync a large environment before the probe starts
# the probe runs the project's code, which may write anything into its answer: every text shown
# (a summary, an error's message or traceback) is cut to this, as the probe itself also does
MAX_TEXT = 4096


@dataclass
class PluginList:
    registry_modules: list[dict[str, Any]] = field(default_factory=list)
    components: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    cached: bool = False
    probed_at: float | None = None
    duration: float | None = None
    python_version: str | None = None
    dagster_importable: bool | None = None
    failure: str | None = None  # the probe itself could not run
    output: str = ""  # what the probe printed when it failed
    # `registry_modules` patterns of the project that matched no importable module
    unmatched_patterns: list[str] = field(default_factory=list)
    # read by the same probe run, so they are exactly as fresh as the plugin list
    dagster_version: str | None = None
    dg_version: str | None = None  # dagster-dg-cli, or dagster-dg in the 1.10 era
    packages: list[dict[str, str]] = field(default_factory=list)  # [{"name", "version"}], sorted

    @property
    def package_count(self) -> int | None:
        return len(self.packages) if self.failure is None else None

    @property
    def shortfalls(self) -> list[str]:
        """Why the listing has fewer plugins than the project expects, in a few words each (the
        overview's row and `envboard list` say them; the project page says them at length)."""
        if self.failure:
            return []
        words = []
        if self.dagster_importable is False:
            words.append("dagster does not import" if self.dagster_version else "dagster not installed")
        words += [f"registry_modules: {pattern} matched nothing" for pattern in self.unmatched_patterns]
        return words

    def to_json(self) -> dict[str, Any]:
        return {
            "registry_modules": self.registry_modules,
            "unmatched_patterns": self.unmatched_patterns,
            "components": self.components,
            "errors": self.errors,
            "cached": self.cached,
            "probed_at": self.probed_at,
            "probed_at_iso": iso(self.probed_at),
            "python_version": self.python_version,
            "dagster_importable": self.dagster_importable,
            "dagster_version": self.dagster_version,
            "dg_version": self.dg_version,
            "packages": self.packages,
            "failure": self.failure,
        }

    @classmethod
    def from_probe(cls, data: dict[str, Any], probed_at: float, duration: float) -> PluginList:
        return cls(probed_at=probed_at, duration=duration, **_answer_fields(data))


_ANSWER_DEFAULTS: dict[str, Any] = {
    "registry_modules": [],
    "unmatched_patterns": [],
    "components": [],
    "errors": [],
    "python_version": None,
    "dagster_importable": None,
    "dagster_version": None,
    "dg_version": None,
    "packages": [],
}


def _answer_fields(data: dict[str, Any]) -> dict[str, Any]:
    fields = {}
    for name, default in _ANSWER_DEFAULTS.items():
        value = data.get(name, default)
        fields[name] = list(value) if isinstance(value, list) else value  # never a shared default
    fields["components"] = [_cut_texts(item, ("summary",)) for item in fields["components"]]
    fields["errors"] = [_cut_texts(item, ("message", "traceback")) for item in fields["errors"]]
    return fields


def cut_text(text: str, keep_end: bool = False) -> str:
    """`text` within MAX_TEXT characters; a traceback keeps its end, where the error is."""
    if len(text) <= MAX_TEXT:
        return text
    mark = f" … [cut: {len(text)} characters in all] … "
    room = MAX_TEXT - len(mark)
    return mark + text[-room:] if keep_end else text[:room] + mark


def _cut_texts(item: Any, keys: tuple[str, ...]) -> Any:
    if not isinstance(item, dict):
        return item
    return {
        key: cut_text(value, keep_end=key == "traceback") if key in keys and isinstance(value, str) else value
        for key, value in item.items()
    }


def _from_value(value: dict[str, Any] | None) -> PluginList | None:
    if value is None:
        return None
    return PluginList(cached=True, probed_at=value.get("probed_at"), **_answer_fields(value))


def cache_key(project: Project, env: ResolvedEnvironment) -> str:
    """What the answer depends on that is known before probing."""
    parts = {
        "probe": PROBE_VERSION,
        "mode": env.mode,
        "python": str(env.python),
        "root": str(project.path),
        "patterns": project.registry_modules if not project.declares_registry_entry_point else [],
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def _config_dependencies(project: Project) -> list[str]:
    files = {str(project.path / PYPROJECT), str(project.path / DG_TOML)}
    if project.config_file:
        files.add(str(project.config_file))
    return sorted(files)


def probe_dependencies(project: Project, env: ResolvedEnvironment, probe: dict) -> dict[str, list[str]]:
    """Everything whose change could change the probe's answer."""
    lock_files = [str(project.path / LOCK_FILE)]
    if env.uv_root is not None:
        lock_files.append(str(env.uv_root / LOCK_FILE))
    return {
        "content": _config_dependencies(project) + lock_files,
        "file": [str(env.python), *probe.get("watched_files", [])],
        "folder": probe.get("watched_dirs", []),
        "site": [str(p) for p in env.site_packages] + list(probe.get("site_packages", [])),
    }


def probe_invocation(resolver: Resolver, env: ResolvedEnvironment, answer: Path, request: Path):
    """The probe runs without syncing: a page view must never change an environment."""
    return resolver.invocation(env, ["python", str(PROBE_SCRIPT), str(answer), str(request)], sync=False)


class PluginProbe:
    """Runs the probe through the shared launcher and keeps answers in the cache."""

    def __init__(
        self, resolver: Resolver, cache: DependencyCache, scratch: ScratchRoot | None = None
    ) -> None:
        self.resolver = resolver
        self.cache = cache
        self.scratch = scratch or ScratchRoot()  # where the probe's request and answer are exchanged

    def cached(self, project: Project, env: ResolvedEnvironment) -> PluginList | None:
        """The cached list if nothing it depended on changed; never spawns."""
        return _from_value(self.cache.load(f"plugins:{project.path}", cache_key(project, env)))

    def last_known(self, project: Project, env: ResolvedEnvironment) -> PluginList | None:
        """The last list probed for this environment, stale or not: the 'before' of a diff."""
        return _from_value(self.cache.last_stored(f"plugins:{project.path}", cache_key(project, env)))

    def probe(self, project: Project, env: ResolvedEnvironment) -> PluginList:
        """Always spawns: the probe script in the project's resolved environment."""
        patterns = [] if project.declares_registry_entry_point else project.registry_modules
        started = time.time()
        problem = self.resolver.unavailable(env) or self.resolver.inputs_problem(env)
        if problem:
            return PluginList(failure=problem, probed_at=started, duration=0.0)
        # stamped before the probe starts: an install that lands while it runs invalidates the answer
        stamps_before = stamp_all(probe_dependencies(project, env, {}))
        with self.scratch.temporary("probe-") as scratch:
            request = scratch / "request.json"
            answer = scratch / "answer.json"
            asked = {"registry_modules": patterns, "entry_point_groups": list(ENTRY_POINT_GROUPS)}
            # written while the folder is envboard's alone: once the job user's, a name in it
            # may be a symlink that root would write through
            request.write_text(json.dumps(asked), encoding="utf-8")
            self.resolver.confinement.hand_over(scratch)  # the job user writes the answer
            invocation = probe_invocation(self.resolver, env, answer, request)
            result = run(invocation, capture=True, timeout=PROBE_TIMEOUT)
            duration = time.time() - started
            refused = None
            try:
                data = json.loads(read_regular(answer, MAX_ANSWER_BYTES))
            except ConfigError as exc:
                data, refused = None, None if exc.message == "file not found" else str(exc)
            except ValueError:
                data = None
        if data is None or not isinstance(data, dict):
            failure = result.error or refused or f"the probe exited {result.exit_code} without an answer"
            return PluginList(
                failure=failure, probed_at=started, duration=duration, output=result.text[-20000:]
            )
        elsewhere = ran_elsewhere(env, data)
        if elsewhere:  # not the environment's answer: shown as the failure it is, and not kept
            return PluginList(failure=elsewhere, probed_at=started, duration=duration)
        plugins = PluginList.from_probe(data, started, duration)
        value = plugins.to_json()
        dependencies = probe_dependencies(project, env, data)
        stamps = merge_stamps(stamp_all(dependencies), stamps_before)
        self.cache.store(f"plugins:{project.path}", cache_key(project, env), value, dependencies, stamps)
        return plugins


def ran_elsewhere(env: ResolvedEnvironment, data: dict[str, Any]) -> str | None:
    """Why an answer is not from the project's uv environment, or None when it is.

    `uv run --no-sync` that cannot see the project (a folder the job user may not pass
    through) runs the first interpreter it finds instead: its empty plugin list must not be
    shown, or cached, as the project's.
    """
    prefix = data.get("prefix")
    if env.mode != MODE_UV or env.venv is None or not isinstance(prefix, str):
        return None
    if os.path.realpath(prefix) == os.path.realpath(env.venv):
        return None
    return (
        f"the probe ran in {prefix[:500]}, not in the project's environment {env.venv}: uv did not find "
        "the project there (can the user project code runs as reach its folder?)"
    )


def merge_stamps(after: dict[str, dict[str, str]], before: dict[str, dict[str, str]]) -> dict:
    """Stamps of everything the answer depended on, the earlier one wherever there is one."""
    return {kind: {**stamps, **before.get(kind, {})} for kind, stamps in after.items()}


# what uv's own freshness check of a local project follows: these files' modification times
# (uv's default cache-keys), not their content; a `touch pyproject.toml` makes uv rebuild it
UV_CACHE_KEYS = ("pyproject.toml", "setup.py", "setup.cfg")


def status_dependencies(project: Project, env: ResolvedEnvironment) -> dict[str, list[str]]:
    uv_root = env.uv_root or project.path
    return {
        "content": _config_dependencies(project)
        + [str(uv_root / PYPROJECT), str(uv_root / LOCK_FILE), str(project.path / LOCK_FILE)],
        "file": [str(env.python)]
        + [str(folder / name) for folder in {project.path, uv_root} for name in UV_CACHE_KEYS],
        "site": [str(p) for p in env.site_packages],
    }
