"""A project's plugin list: registry modules and component types, probed in its environment.

The answer is the environment's, for the registry-module patterns asked. Every `active` project
of a workspace runs in the one interpreter envboard was given, so 2,000 of them with the same
patterns need one probe, not 2,000: an answer is kept per environment and patterns
(`environment_name`: depending on the interpreter, its site-packages and the files the probe
imported) and per project (that, and the project's own config and lock). A look in the
background takes a fresh answer another project got; a refresh takes only one begun after it
was asked (`probe(..., since=...)`), and a job that changed the environment asks anew.
Projects run through `uv run` share nothing: uv finds their environment from their own folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..disk.cache import DependencyCache, stamp_all
from ..disk.files import MAX_ANSWER_BYTES, ConfigError, read_regular
from ..disk.scratch import ScratchRoot
from ..environments.processes import Cancellation, run
from ..environments.resolver import ResolvedEnvironment, Resolver
from ..environments.uv import LOCK_FILE
from ..workspace.dg import DG_TOML, ENTRY_POINT_GROUPS, MODE_UV, PYPROJECT
from ..workspace.scan import Project
from .answer import PluginList, from_value

PROBE_SCRIPT = Path(__file__).with_name("script.py")
PROBE_VERSION = hashlib.sha256(PROBE_SCRIPT.read_bytes()).hexdigest()[:16]
PROBE_TIMEOUT = 600.0  # uv may sync a large environment before the probe starts
# a probe of a shared environment that timed out is not waited for again by each of its projects
TIMED_OUT_RETRY = 60.0


def _patterns(project: Project) -> list[str]:
    return [] if project.declares_registry_entry_point else list(project.registry_modules)


def cache_key(project: Project, env: ResolvedEnvironment) -> str:
    """What the answer depends on that is known before probing."""
    parts = {
        "probe": PROBE_VERSION,
        "mode": env.mode,
        "python": str(env.python),
        "root": str(project.path),
        "patterns": _patterns(project),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def environment_name(project: Project, env: ResolvedEnvironment) -> str | None:
    """The name of the answer every project with this environment and these patterns shares,
    or None where the probe runs through `uv run` (it finds the environment from the project)."""
    if env.mode == MODE_UV:
        return None
    parts = {
        "probe": PROBE_VERSION,
        "mode": env.mode,
        "python": str(env.python),
        "venv": str(env.venv),
        "patterns": _patterns(project),
    }
    return "plugins-environment:" + hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def _config_dependencies(project: Project) -> list[str]:
    files = {str(project.path / PYPROJECT), str(project.path / DG_TOML)}
    if project.config_file:
        files.add(str(project.config_file))
    return sorted(files)


def _environment_dependencies(env: ResolvedEnvironment, probe: dict) -> dict[str, list[str]]:
    """What the environment's answer depends on: its interpreter, site-packages, imported files."""
    return {
        "file": [str(env.python), *probe.get("watched_files", [])],
        "folder": probe.get("watched_dirs", []),
        "site": [str(p) for p in env.site_packages] + list(probe.get("site_packages", [])),
    }


def probe_dependencies(project: Project, env: ResolvedEnvironment, probe: dict) -> dict[str, list[str]]:
    """Everything whose change could change the probe's answer for the project."""
    lock_files = [str(project.path / LOCK_FILE)]
    if env.uv_root is not None:
        lock_files.append(str(env.uv_root / LOCK_FILE))
    return {"content": _config_dependencies(project) + lock_files, **_environment_dependencies(env, probe)}


def probe_invocation(resolver: Resolver, env: ResolvedEnvironment, answer: Path, request: Path):
    """The probe runs without syncing: a page view must never change an environment."""
    return resolver.invocation(env, ["python", str(PROBE_SCRIPT), str(answer), str(request)], sync=False)


class _OneAtATime:
    """A lock per name: the second probe of an environment waits for the first and takes its
    answer instead of starting the same interpreter beside it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[str, tuple[threading.Lock, list[int]]] = {}

    @contextlib.contextmanager
    def hold(self, name: str | None) -> Iterator[None]:
        if name is None:
            yield
            return
        with self._lock:
            lock, users = self._held.setdefault(name, (threading.Lock(), [0]))
            users[0] += 1
        try:
            with lock:
                yield
        finally:
            with self._lock:
                users[0] -= 1
                if not users[0]:
                    del self._held[name]


class PluginProbe:
    """Runs the probe through the shared launcher and keeps answers in the cache."""

    def __init__(
        self, resolver: Resolver, cache: DependencyCache, scratch: ScratchRoot | None = None
    ) -> None:
        self.resolver = resolver
        self.cache = cache
        self.scratch = scratch or ScratchRoot()  # where the probe's request and answer are exchanged
        self._environments = _OneAtATime()
        self._timed_out: dict[str, PluginList] = {}  # environment name -> its probe that timed out
        self.stopping = Cancellation()  # set when envboard stops: a probe waiting starts nothing

    def cached(self, project: Project, env: ResolvedEnvironment) -> PluginList | None:
        """The cached list if nothing it depended on changed; never spawns."""
        return from_value(self.cache.load(f"plugins:{project.path}", cache_key(project, env)))

    def last_known(self, project: Project, env: ResolvedEnvironment) -> PluginList | None:
        """The last list probed for this environment, stale or not: the 'before' of a diff."""
        return from_value(self.cache.last_stored(f"plugins:{project.path}", cache_key(project, env)))

    def probe(self, project: Project, env: ResolvedEnvironment, *, since: float | None = None) -> PluginList:
        """The probe script in the project's resolved environment. With `since`, the answer of
        a probe begun at or after that moment for another project in the same environment is
        taken instead, while fresh (`environment_name`): 0 takes any (a look in the background);
        a refresh passes the moment it was asked, so that it sees what changed before it."""
        started = time.time()
        problem = self.resolver.unavailable(env) or self.resolver.inputs_problem(env)
        if problem:
            return PluginList(failure=problem, probed_at=started, duration=0.0)
        # stamped before the probe starts: an install that lands while it runs invalidates the answer
        stamps_before = stamp_all(probe_dependencies(project, env, {}))
        name = environment_name(project, env)
        with self._environments.hold(name):
            taken = self._taken(name, since) if name and since is not None else None
            answer = taken or self._spawn(project, env, name)
        if isinstance(answer, PluginList):
            return answer
        data = answer["data"]
        plugins = PluginList.from_probe(data, answer["probed_at"], answer["duration"])
        plugins.cached = taken is not None  # an answer from the cache, not a probe of its own
        dependencies = probe_dependencies(project, env, data)
        stamps = merge_stamps(stamp_all(dependencies), stamps_before)
        if taken is not None and not _still(self._taken(name, answer["probed_at"]), answer):
            # stored again or gone stale while it was taken: these stamps may be of a newer state,
            # so this project is probed itself (once: that path takes nothing)
            return self.probe(project, env)
        self.cache.store(
            f"plugins:{project.path}", cache_key(project, env), plugins.to_json(), dependencies, stamps
        )
        return plugins

    def _taken(self, name: str, since: float) -> dict[str, Any] | PluginList | None:
        """The environment's fresh answer from a probe begun at or after `since`, or one that
        timed out meanwhile (not waited for again for each project), or None."""
        timed_out = self._timed_out.get(name)
        # how long it is remembered counts from its end: it took its time
        recent = timed_out is not None and time.time() - timed_out.ended_at < TIMED_OUT_RETRY
        if recent and (timed_out.probed_at or 0) >= since:
            return replace(timed_out, cached=True)
        kept = self.cache.load(name, name)
        return kept if kept is not None and kept["probed_at"] >= since else None

    def _spawn(
        self, project: Project, env: ResolvedEnvironment, name: str | None
    ) -> dict[str, Any] | PluginList:
        """Runs the probe: its answer (kept for the environment when it is shared) or a failure."""
        started = time.time()
        if self.stopping.requested:  # envboard stops: no project code may outlive it
            return PluginList(failure="not probed: envboard is stopping", probed_at=started, duration=0.0)
        environment_before = stamp_all(_environment_dependencies(env, {}))
        with self.scratch.temporary("probe-") as scratch:
            request = scratch / "request.json"
            answer = scratch / "answer.json"
            asked = {"registry_modules": _patterns(project), "entry_point_groups": list(ENTRY_POINT_GROUPS)}
            # written while the folder is envboard's alone: once the job user's, a name in it
            # may be a symlink that root would write through
            request.write_text(json.dumps(asked), encoding="utf-8")
            self.resolver.confinement.hand_over(scratch)  # the job user writes the answer
            invocation = probe_invocation(self.resolver, env, answer, request)
            result = run(invocation, capture=True, timeout=PROBE_TIMEOUT, cancel=self.stopping)
            duration = time.time() - started
            refused = None
            try:
                data = json.loads(read_regular(answer, MAX_ANSWER_BYTES))
            except ConfigError as exc:
                data, refused = None, None if exc.message == "file not found" else str(exc)
            except ValueError:
                data = None
        failed = None
        if data is None or not isinstance(data, dict):
            failure = result.error or refused or f"the probe exited {result.exit_code} without an answer"
            failed = PluginList(
                failure=failure, probed_at=started, duration=duration, output=result.text[-20000:]
            )
        elif elsewhere := ran_elsewhere(env, data):
            # not the environment's answer: shown as the failure it is, and not kept
            failed = PluginList(failure=elsewhere, probed_at=started, duration=duration)
        if name is not None:
            # only a probe that ran out of time is the environment's alone to answer for: any
            # other failure may be the project's (its folder gone, or closed to the job user)
            self._timed_out.pop(name, None)
            if failed is not None and result.timed_out:
                self._timed_out[name] = failed
        if failed is not None:
            return failed
        kept = {"data": data, "probed_at": started, "duration": duration}
        if name is not None:
            dependencies = _environment_dependencies(env, data)
            stamps = merge_stamps(stamp_all(dependencies), environment_before)
            self.cache.store(name, name, kept, dependencies, stamps)
        return kept


def _still(kept: dict[str, Any] | PluginList | None, taken: dict[str, Any]) -> bool:
    """Whether the environment's answer is still the one taken."""
    return isinstance(kept, dict) and kept["probed_at"] == taken["probed_at"]


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
