"""Does a project's code location load? Running dg's own definitions check, and keeping its verdict.

The commands come from `loadplan.py` and run through the resolver in the environment
envboard resolves for the project, at low priority and with a timeout, the check and the
listing one after the other; the verdict (`loadverdict.py`) lives in the dependency cache, keyed
on what it depends on: the project's sources and YAML files, `.env`, its config, and the
environment.

The verdict is dg's check's, and it is known as soon as the check ends: it is shown then
(`counting`, kept in memory) while the listing, which loads the definitions a second time
only to count them, runs after it at the lowest priority; the stored answer has both. A
project that fails to load is not listed at all.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO

from ..disk.cache import DependencyCache, stamp_all
from ..disk.scratch import ScratchRoot
from ..environments.output import strip_ansi
from ..environments.processes import Cancellation, Invocation, RunResult, run
from ..environments.resolver import ResolvedEnvironment, Resolver
from ..workspace.scan import Project
from .homes import DagsterHomes
from .loadplan import CheckPlan, check_invocation, plan
from .loadverdict import (
    FAILS,
    LOADS,
    NOT_APPLICABLE,
    NOT_CHECKED,
    LoadCheck,
    count_definitions,
    listing_json,
    located_error,
)
from .runner import merge_stamps

CHECK_VERSION = "1"  # bump when what a stored answer means changes
CHECK_TIMEOUT = 300.0
CHECK_NICENESS = 10  # below every page and job: a check is never urgent
LISTING_NICENESS = 19  # below the check itself: the verdict first, the counts after it
LISTING_TIMEOUT = CHECK_TIMEOUT  # at the lowest priority, on a busy machine it is the one to time out
SOURCE_SUFFIXES = (".py", ".yaml", ".yml", ".toml", ".json", ".sql", ".env")
SKIPPED_FOLDERS = {"__pycache__", "node_modules", "build", "dist"}  # and every folder starting with "."
MAX_SOURCE_FILES = 5000  # a project folder holding a data dump is not walked to the end


def cache_key(project: Project, env: ResolvedEnvironment, checks: CheckPlan) -> str:
    parts = {
        "version": CHECK_VERSION,
        "mode": env.mode,
        "python": str(env.python),
        "root": str(project.path),
        "check": checks.check,
        "listing": checks.listing,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def source_files(root: Path) -> tuple[list[str], list[str]]:
    """The project's source, YAML and .env files, and the folders holding them (a new file
    changes its folder's stamp); the environment, caches and hidden folders are left out."""
    files: list[str] = []
    folders: list[str] = []
    for folder, subfolders, names in os.walk(root):
        subfolders[:] = sorted(
            s
            for s in subfolders
            if not s.startswith(".") and s not in SKIPPED_FOLDERS and "egg-info" not in s
        )
        folders.append(folder)
        files.extend(os.path.join(folder, n) for n in sorted(names) if n.endswith(SOURCE_SUFFIXES))
        if len(files) > MAX_SOURCE_FILES:
            break
    return files, folders


def dependencies(project: Project, env: ResolvedEnvironment) -> dict[str, list[str]]:
    files, folders = source_files(project.path)
    content = [str(project.path / ".env")]
    if env.uv_root is not None and env.uv_root != project.path:
        content.append(str(env.uv_root / ".env"))
    return {
        "content": content,
        "file": [str(env.python), *files],
        "listing": folders,  # a file added or removed; not the bytecode the check itself writes
        "site": [str(p) for p in env.site_packages],
    }


@dataclass(eq=False)
class _Early:
    """A verdict shown while its listing runs: its cache key, and the stamps of what dg read."""

    key: str
    verdict: LoadCheck
    stamps: dict[str, dict[str, str]]


class DefinitionsCheck:
    """Runs the check through the shared launcher and keeps verdicts in the dependency cache."""

    def __init__(
        self, resolver: Resolver, cache: DependencyCache, scratch: ScratchRoot | None = None
    ) -> None:
        self.resolver = resolver
        self.cache = cache
        self.stopping = Cancellation()  # set when envboard stops: no check outlives it
        self.homes = DagsterHomes(resolver.confinement, scratch)
        # verdicts given while their listing still runs, by project, the latest last: two checks of
        # one project may count at once (a sync's and a background one), each removing only its own
        self._early: dict[Path, list[_Early]] = {}
        self._early_lock = threading.Lock()

    def plan(self, project: Project, env: ResolvedEnvironment) -> CheckPlan:
        return plan(project, env, self.resolver)

    def cached(self, project: Project, env: ResolvedEnvironment) -> LoadCheck | None:
        """The stored verdict while nothing it depended on changed; a not-applicable one at once."""
        checks = self.plan(project, env)
        if checks.check is None:
            return LoadCheck(NOT_APPLICABLE, checks.why)
        key = cache_key(project, env, checks)
        value = self.cache.load(f"defs:{project.path}", key)
        if value:
            return LoadCheck.from_json(value)
        with self._early_lock:
            early = list(self._early.get(project.path, ()))
        for given in reversed(early):
            # under the cache's own rule: a file saved since dg began makes the verdict stale
            if (
                given.key == key
                and stamp_all({kind: list(s) for kind, s in given.stamps.items()}) == given.stamps
            ):
                return given.verdict
        return None

    def check(
        self,
        project: Project,
        env: ResolvedEnvironment,
        cancel: Cancellation | None = None,
        sink: BinaryIO | None = None,
        on_verdict: Callable[[LoadCheck], None] | None = None,
    ) -> LoadCheck:
        """Always runs the commands (at low priority, with a timeout) and stores the verdict.

        `cancel` is a job's switch (a sync's check ends with the sync); without one, stopping
        envboard ends the check. `sink` (a job's log) gets the check's command line as it starts
        and its output as it comes. A cancelled check is no verdict: `not_checked`, never stored.
        `on_verdict` is told when the project loads while its definitions are still being listed
        (`cached` answers that verdict, `counting`, meanwhile); the return has the counts.
        """
        checks = self.plan(project, env)
        if checks.check is None:
            return LoadCheck(NOT_APPLICABLE, checks.why)
        started = time.time()
        needs = dependencies(project, env)
        # stamped before dg reads anything: a file saved during the check makes its verdict stale
        before = stamp_all(needs)
        stop = cancel or self.stopping
        key = cache_key(project, env, checks)
        installed = json.dumps([str(env.python), before.get("site")], sort_keys=True)  # the homes' Dagster
        with self.homes.lend(project, installed) as home:
            invocation = check_invocation(self.resolver, env, checks.check, home)
            if sink is not None:
                sink.write(f"\n$ {invocation.display()}\n".encode())
                sink.flush()
            result = self._run(invocation, stop, sink)
        verdict = self._verdict(project, checks, invocation, result)
        if checks.listing is None or verdict.status != LOADS:
            return self._store(project, key, verdict, started, needs, before)
        # dg's check has decided: shown now; `dg list defs` loads the definitions a second time
        # only to count them, so it runs after the check, not beside it, and below it
        early = self._tell_early(project, key, verdict, started, before, needs)
        try:
            if on_verdict is not None:
                on_verdict(early.verdict)
            with self.homes.lend(project, installed) as home:
                listing = check_invocation(self.resolver, env, checks.listing, home)
                listed = self._run(listing, stop, None, LISTING_NICENESS, LISTING_TIMEOUT)
            if listed.cancelled or listed.timed_out:
                verdict.ran = False  # the verdict stands; without its counts it is not stored
            else:
                self._read_listing(verdict, listed)
            # stored before the early verdict goes: between the two, a page would find neither
            # and start the project's check again
            return self._store(project, key, verdict, started, needs, before)
        finally:
            with self._early_lock:
                given = self._early.get(project.path, [])
                given.remove(early)
                if not given:
                    del self._early[project.path]

    def _store(
        self,
        project: Project,
        key: str,
        verdict: LoadCheck,
        started: float,
        needs: dict[str, list[str]],
        before: dict[str, dict[str, str]],
    ) -> LoadCheck:
        verdict.checked_at, verdict.duration = started, time.time() - started
        if verdict.ran:
            stamps = merge_stamps(stamp_all(needs), before)
            self.cache.store(f"defs:{project.path}", key, verdict.to_json(), needs, stamps)
        return verdict

    def _tell_early(
        self,
        project: Project,
        key: str,
        verdict: LoadCheck,
        started: float,
        before: dict[str, dict[str, str]],
        needs: dict[str, list[str]],
    ) -> _Early:
        """dg's check has said it loads: that is the answer, shown before the counts are in."""
        shown = replace(verdict, counting=True, checked_at=started, duration=time.time() - started)
        early = _Early(key, shown, merge_stamps(stamp_all(needs), before))
        with self._early_lock:
            self._early.setdefault(project.path, []).append(early)
        return early

    @staticmethod
    def _run(
        invocation: Invocation,
        cancel: Cancellation,
        sink: BinaryIO | None = None,
        niceness: int = CHECK_NICENESS,
        timeout: float | None = None,
    ) -> RunResult:
        return run(
            invocation,
            sink=sink,
            capture=True,
            timeout=timeout or CHECK_TIMEOUT,
            cancel=cancel,
            niceness=niceness,
        )

    @staticmethod
    def _verdict(project: Project, checks: CheckPlan, invocation: Invocation, result: RunResult) -> LoadCheck:
        text = strip_ansi(result.text)[-40000:]
        command = invocation.display()
        if result.cancelled:  # ended by a cancel (a job's, or envboard stopping): nothing was decided
            return LoadCheck(
                NOT_CHECKED, "the check was cancelled before dg answered", command, output=text, ran=False
            )
        if result.error:  # it did not run to its end: no verdict about the project
            error = {"message": f"the check could not run: {result.error}", "file": None, "line": None}
            return LoadCheck(FAILS, checks.why, command, error, text, ran=False)
        if result.exit_code == 0:
            return LoadCheck(LOADS, checks.why, command, output=text)
        return LoadCheck(FAILS, checks.why, command, located_error(text, project.path), text)

    @staticmethod
    def _read_listing(verdict: LoadCheck, result: RunResult) -> None:
        data = listing_json(result.text) if result.ok else None
        if data is None:
            said = result.text[-4000:]
            verdict.output += f"\n[envboard] `dg list defs --json` gave no definitions:\n{said}"
            return
        verdict.definitions, verdict.keys = count_definitions(data)
