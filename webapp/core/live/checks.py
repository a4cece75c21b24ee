"""What the board checks in the background for one project, and the failures it remembers.

The plugin probe, `uv lock --check` and the definitions load check, each as a task of the
board's pool (`tasks.py`); load checks wait in a pool of their own, one at a time. An answer
that could not be had (a probe that failed, a lock uv could not judge, a check that timed
out) is not cached on disk, so it is remembered here a while: `Board.state` does not start
it again in a loop.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from ..environments.resolver import ResolvedEnvironment
from ..environments.status import EnvironmentStatus
from ..environments.uv import LOCK_UNKNOWN, LockFacts, LockInspector
from ..probe.answer import PluginList
from ..probe.loadcheck import DefinitionsCheck
from ..probe.loadverdict import LoadCheck
from ..probe.runner import PluginProbe, cache_key
from ..workspace.dg import MODE_UV
from ..workspace.scan import Project
from .state import ProjectState
from .tasks import BackgroundTasks


class BackgroundChecks(BackgroundTasks):
    """Mixed into `Board`, whose constructor makes these attributes."""

    probe: PluginProbe
    lock_inspector: LockInspector
    definitions: DefinitionsCheck
    _check_pool: ThreadPoolExecutor
    _check_failures: dict[Path, LoadCheck]
    _failures: dict[str, PluginList]
    _lock_failures: dict[Path, tuple[float, LockFacts]]
    check_listeners: list[Callable[[Project, LoadCheck, str], None]]
    probe_listeners: list[Callable[[PluginList], None]]
    cached_status: Callable[[Project, ResolvedEnvironment], EnvironmentStatus | None]
    resolve: Callable[[Project], ResolvedEnvironment | None]

    # -- the definitions load check ------------------------------------------------------------

    def submit_check(self, project: Project, env: ResolvedEnvironment, who: str) -> Future | None:
        """Check in the background (deduplicated: a check already queued or running is joined)."""
        name = f"check:{project.path}"

        def loads(early: LoadCheck) -> None:
            # dg's check has answered: no longer "checking"; the counts follow (`early.counting`)
            with self._lock:
                self._checking.discard(project.path)
            self.mark_changed(project.path)

        def work() -> LoadCheck:
            try:
                verdict = self.definitions.check(project, env, on_verdict=loads)
            finally:
                with self._lock:
                    self._checking.discard(project.path)
            if verdict.ran:
                self._check_failures.pop(project.path, None)
            else:
                self._check_failures[project.path] = verdict
            for listener in self.check_listeners:
                listener(project, verdict, who)
            return verdict

        with self._lock:
            if name not in self._running and not self._closed:
                self._checking.add(project.path)
        return self._submit(name, work, project, pool=self._check_pool, busy=False)

    def is_checking(self, project: Project) -> bool:
        with self._lock:
            return project.path in self._checking

    # -- the plugin probe and uv's lock check ---------------------------------------------------

    @staticmethod
    def _probe_name(project: Project, env: ResolvedEnvironment) -> str:
        return f"plugins:{project.path}:{cache_key(project, env)}"

    def probe_now(
        self, project: Project, env: ResolvedEnvironment, *, since: float | None = None
    ) -> PluginList:
        """A probe begun now, which any look meanwhile joins. After a job changed the environment
        it asks anew; a look that waits may take an answer another project in the same
        environment got from a probe begun at or after `since` (`PluginProbe.probe`)."""
        work = functools.partial(self.probe.probe, project, env, since=since)
        return self._run_here(self._probe_name(project, env), work, project)

    def refresh_plugins(self, project: Project) -> Future | None:
        """Probe again, bypassing the cache, in the background (repeated asks deduplicated). A
        probe already under way began before the ask, or took an answer from before it: it is
        waited for, then the refresh's own runs, under the same name so looks meanwhile join it."""
        env = self.resolve(project)
        if env is None:
            return None
        name = self._probe_name(project, env)
        probe = functools.partial(self._probe_task, project, env, since=time.time())
        return self._submit(f"refresh:{name}", lambda: self._run_here(name, probe, project), project)

    def _join_started(self, state: ProjectState, project: Project, env: ResolvedEnvironment) -> None:
        """Fills in what a probe, status or lock check already started for this project answers.

        Its answer is read from the cache, which holds it only while nothing it depends on has
        changed since it began (a file saved meanwhile leaves it missing: asked again).
        """
        if state.plugins is None and env.exists and self._joined(self._probe_name(project, env)):
            state.plugins = self.probe.cached(project, env)
        if state.status is None and self._joined(f"status:{project.path}"):
            state.status = self.cached_status(project, env)
        if state.lock is None and env.mode == MODE_UV and self._joined(f"lock:{project.path}"):
            state.lock = self.lock_inspector.cached(project, env)

    def _probe_task(self, project: Project, env: ResolvedEnvironment, since: float = 0.0) -> PluginList:
        # a failed probe is not cached on disk; remember it a while so it is not retried in a loop
        result = self.probe.probe(project, env, since=since)
        if not result.cached:  # a probe that ran, not another project's answer taken
            for listener in self.probe_listeners:
                listener(result)
        name = self._probe_name(project, env)
        if result.failure:
            self._failures[name] = result
        else:
            self._failures.pop(name, None)
        return result

    def _lock_task(self, project: Project, env: ResolvedEnvironment) -> LockFacts:
        # an answer uv could not give is not cached on disk; remember it a while, as a failed probe
        facts = self.lock_inspector.facts(project, env)
        if facts.status == LOCK_UNKNOWN:
            self._lock_failures[project.path] = (time.time(), facts)
        else:
            self._lock_failures.pop(project.path, None)
        return facts
