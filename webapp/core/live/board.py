"""The board: one object that knows the workspace, its environments and their plugins.

The command line and the web pages both read projects through it, so both show the
same facts built by the same code. Here: the workspace as last scanned, and one project's
state from what is cached; what is missing is checked in the background (`checks.py`), as
tasks of a bounded pool, deduplicated so two viewers never start the same probe twice
(`tasks.py`).
"""

from __future__ import annotations

import functools
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from ..disk.cache import DependencyCache, stamp_all
from ..disk.scratch import ScratchRoot
from ..disk.stamps import file_stamp
from ..environments.confinement import Confinement, JobUser
from ..environments.interpreters import ActivePython
from ..environments.leftovers import check_owner
from ..environments.processes import find_uv
from ..environments.resolver import ResolvedEnvironment, Resolver
from ..environments.sharing import environment_key
from ..environments.status import STATUS_MISSING, EnvironmentStatus, check_status
from ..environments.uv import LOCK_FILE, LockFacts, LockInspector, direct_requirements
from ..probe.answer import PluginList
from ..probe.loadcheck import DefinitionsCheck
from ..probe.loadverdict import LoadCheck
from ..probe.runner import PluginProbe, status_dependencies
from ..probe.webserver import DagsterWebserver
from ..settings import Settings
from ..workspace.dg import DG_TOML, MODE_UV, PYPROJECT
from ..workspace.scan import Project, Workspace, scan_workspace
from .checks import BackgroundChecks
from .state import ProjectState
from .waiting import Concurrently, each_within

FAILED_PROBE_RETRY = 60.0


class Board(BackgroundChecks):
    """Shared by the CLI and the web app; safe to use from many threads."""

    def __init__(self, settings: Settings, environ: dict[str, str] | None = None) -> None:
        self.settings = settings
        self.uv = find_uv(settings.uv)
        self.active = ActivePython.detect(settings.active_python, environ)
        user = JobUser.named(settings.job_user) if settings.job_user else None
        self.confinement = Confinement.decide(settings.hidden_paths, user)
        self.owner = check_owner(settings.state_dir)
        self.resolver = Resolver(
            self.active, self.uv, environ, self.confinement, settings.pass_env, owner=self.owner
        )
        self.cache = DependencyCache(settings.resolved_cache_dir)
        self.scratch = ScratchRoot()  # what project code is handed: removed at close, or at the next start
        self.probe = PluginProbe(self.resolver, self.cache, self.scratch)
        self.lock_inspector = LockInspector(self.resolver, self.cache)
        self._pool = ThreadPoolExecutor(max_workers=settings.workers, thread_name_prefix="probe")
        self.definitions = DefinitionsCheck(self.resolver, self.cache, self.scratch)
        # a running Dagster webserver told to reload a location after a sync or a check that loads
        self.webserver = DagsterWebserver(settings.dagster_url) if settings.dagster_url else None
        # load checks wait in a pool of their own, one at a time: they never hold up a status check
        # or a probe, and their processes run at a lower CPU priority
        self._check_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="check")
        self._checking: set[Path] = set()  # projects whose load check is queued or running
        self._check_failures: dict[Path, LoadCheck] = {}  # checks that could not run (not cached)
        # told of every load check run in the background or on demand: (project, verdict, who)
        self.check_listeners: list[Callable[[Project, LoadCheck, str], None]] = []
        self._running: dict[str, Future] = {}
        self._busy: dict[Path, int] = {}  # project path -> background tasks running for it
        self._changing: dict[Path, int] = {}  # project path -> jobs changing it (`changing`)
        self._task_projects: dict[str, Path] = {}  # task name -> its project's path
        self._lock = threading.Lock()
        self._closed = False  # nothing new starts once the server is stopping
        self._rescan_lock = threading.Lock()
        self._failures: dict[str, PluginList] = {}
        self._lock_failures: dict[Path, tuple[float, LockFacts]] = {}  # `uv lock --check` said neither
        self.task_listeners: list[Callable[[], None]] = []  # told when a background task ends
        self._finished: set[Path] = set()  # projects whose background task ended since the last look
        self.probe_listeners: list[Callable[[PluginList], None]] = []  # told of every probe's result
        self._workspace: Workspace = scan_workspace(settings.workspace, self.active.venv)
        self._workspace_stamp = self._config_stamp(self._workspace)

    # -- workspace ---------------------------------------------------------------------------

    @property
    def workspace(self) -> Workspace:
        return self._workspace

    def rescan(self) -> bool:
        """Scan again when a config file changed (or a project folder appeared or went); True if so.

        One scan at a time (the monitor, a job and a request may all ask), and the stamps are
        taken before the scan reads the files: a file written during a scan makes the next
        call scan again instead of being recorded as already seen.
        """
        with self._rescan_lock:
            current = self._config_stamp(self._workspace)
            if current == self._workspace_stamp:
                return False
            workspace = scan_workspace(self.settings.workspace, self.active.venv)
            after = self._config_stamp(workspace)
            self._workspace = workspace
            self._workspace_stamp = {path: current.get(path, value) for path, value in after.items()}
            return True

    def config_changed(self, paths: set[Path]) -> bool:
        """Whether the folder or a config file of one of these projects changed since the last scan."""
        for path in paths:
            for candidate in _config_paths(path):
                if file_stamp(candidate) != self._workspace_stamp.get(candidate, "absent"):
                    return True
        return False

    @staticmethod
    def _config_stamp(workspace: Workspace) -> dict[Path, str]:
        paths = [workspace.root / DG_TOML, workspace.root / PYPROJECT]
        for project in workspace.projects:
            paths += _config_paths(project.path)
        return {p: file_stamp(p) for p in paths}

    def project(self, project_id: str) -> Project | None:
        return self._workspace.get(project_id)

    # -- one project -------------------------------------------------------------------------

    def resolve(self, project: Project) -> ResolvedEnvironment | None:
        return None if project.error else self.resolver.resolve(project)

    def shared_with(self, project: Project) -> list[Project]:
        """The other projects whose code runs in this project's environment (no subprocess; one
        look at each project, not the whole workspace's groups: a job asks at every start)."""
        key = environment_key(self.resolve(project))
        if key is None:
            return []
        others = (p for p in self._workspace.projects if p.id != project.id)
        return [p for p in others if environment_key(self.resolve(p)) == key]

    def cached_status(self, project: Project, env: ResolvedEnvironment) -> EnvironmentStatus | None:
        """The status if it is known without a subprocess (or cannot need one)."""
        if env.mode != MODE_UV or not env.exists:
            return check_status(self.resolver, env)  # no subprocess in these cases
        value = self.cache.load(f"status:{project.path}", self._status_key(env))
        if not value:
            return None
        return EnvironmentStatus(
            value["status"], value["reason"], tuple(value.get("drift", ())), said=value.get("said", "")
        )

    def check_status(self, project: Project, env: ResolvedEnvironment) -> EnvironmentStatus:
        dependencies = status_dependencies(project, env)
        # stamped before uv looks: an install that lands during the check invalidates its answer
        stamps = stamp_all(dependencies)
        status = check_status(self.resolver, env)
        # a closing board ends the check itself: whatever uv said by then is no answer to remember
        if env.mode == MODE_UV and status.status != STATUS_MISSING and status.answered and not self._closed:
            value = dict(
                status=status.status, reason=status.reason, drift=list(status.drift), said=status.said
            )
            self.cache.store(f"status:{project.path}", self._status_key(env), value, dependencies, stamps)
        return status

    def check_status_soon(
        self, project: Project, env: ResolvedEnvironment, by_job: bool = False
    ) -> Future | None:
        """uv's status check in the background: joins the one already running for this project.
        After a job (`by_job`), uv may have to build what the job could not (a dynamic version,
        say): the job must not wait for it, nor may a page start a second one meanwhile; the
        check's own timeout (`STATUS_CHECK_TIMEOUT`) bounds it."""
        check = functools.partial(self.check_status, project, env)
        return self._submit(f"status:{project.path}", check, project, by_job=by_job)

    def _status_key(self, env: ResolvedEnvironment) -> str:
        return f"{env.mode}:{env.python}:{self.uv.path}"

    def state(
        self, project: Project, *, wait: bool = False, refresh: bool = False, since: float | None = None
    ) -> ProjectState:
        """What is known now; with `wait`, also run what is missing (status check, probe). A
        `refresh` takes no answer from before `since` (by default, the moment it is asked)."""
        state = ProjectState(project, last_change=_last_change(project))
        env = self.resolve(project)
        if env is None:
            return state
        state.env = env
        state.direct = tuple(direct_requirements(project.path / PYPROJECT))  # memoised per stamp
        state.status = None if refresh else self.cached_status(project, env)
        state.plugins = None if refresh else self.probe.cached(project, env)
        checks_lock = env.mode == MODE_UV
        state.lock = self.lock_inspector.cached(project, env) if checks_lock and not refresh else None
        state.check = self.definitions.cached(project, env)
        if wait and not refresh:  # what a background task started already says is joined, not asked again
            self._join_started(state, project, env)
        needs_status = state.status is None
        needs_plugins = state.plugins is None and env.exists
        needs_lock = checks_lock and state.lock is None
        if wait:
            # `uv lock --check` beside the probe, not after it: a cold `envboard list` barely waits longer
            check = (lambda: self.lock_inspector.facts(project, env)) if needs_lock else None
            lock_check = Concurrently(check) if check else None
            if needs_plugins or (refresh and env.exists):
                asked = (time.time() if since is None else since) if refresh else 0.0
                state.plugins = self.probe_now(project, env, since=asked)
            # nothing new once closed: a command line that stopped waiting has ended the probe
            if (needs_status or state.plugins is not None and not state.plugins.cached) and not self._closed:
                state.status = self.check_status(project, env)
            if lock_check is not None:
                state.lock = lock_check.result()
            return state
        if needs_plugins:
            failed = self._failures.get(self._probe_name(project, env))
            if failed is not None and time.time() - failed.ended_at < FAILED_PROBE_RETRY:
                state.plugins, needs_plugins = failed, False
        if needs_lock:
            failed_lock = self._lock_failures.get(project.path)
            if failed_lock is not None and time.time() - failed_lock[0] < FAILED_PROBE_RETRY:
                state.lock, needs_lock = failed_lock[1], False
        failed_check = self._check_failures.get(project.path) if state.check is None else None
        if failed_check is not None and time.time() - failed_check.ended_at < FAILED_PROBE_RETRY:
            state.check = failed_check  # a check that timed out is not retried in a loop
        if self.is_changing(project):  # a job's: it asks at its end, the monitor once it lets go
            state.changing, state.checking = True, state.check is None
            state.pending = needs_plugins or self.is_busy(project)
            return state
        if needs_status:
            self.check_status_soon(project, env)
        if needs_lock:
            self._submit(f"lock:{project.path}", lambda: self._lock_task(project, env), project)
        if needs_plugins:
            self._submit(self._probe_name(project, env), lambda: self._probe_task(project, env), project)
        checking = None
        if state.check is None:
            # joined, where one is under way that has given its verdict: a file saved since made
            # that verdict stale, and a new check follows this one
            checking = self.submit_check(project, env, "envboard (what it depends on changed)")
        state.checking = checking is not None or self.is_checking(project)
        state.pending = self.is_busy(project)
        return state

    # -- the whole workspace -----------------------------------------------------------------

    def states(
        self, *, wait: bool = False, refresh: bool = False, patience: float | None = None
    ) -> list[ProjectState]:
        """With `wait`, every project's whole answer; with `patience` too, a project still at work
        after that many seconds is shown as still checking (`waiting.py`)."""
        projects = self._workspace.projects
        if not wait:
            return [self.state(p) for p in projects]
        # probes of different projects in parallel, bounded by the pool's size; refreshed from one
        # moment, so that projects sharing an environment share the probe begun after it
        work = functools.partial(self.state, wait=True, refresh=refresh, since=time.time())
        if patience is not None:
            return each_within(self._pool, list(projects), work, patience, self.resolve)
        futures = [self._pool.submit(work, p) for p in projects]
        return [f.result() for f in futures]

    def close(self) -> None:
        # Closed under the board's lock first: the pool's shutdown holds the pool's lock while
        # the callbacks of the tasks it cancels take the board's, so no submit may be holding
        # the board's lock then, waiting for the pool's.
        with self._lock:
            self._closed = True
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._check_pool.shutdown(wait=False, cancel_futures=True)
        self.definitions.stopping.cancel()
        self.probe.stopping.cancel()
        self.definitions.homes.remove()
        self.scratch.remove()


def _config_paths(project_path: Path) -> list[Path]:
    # besides the config: what decides which dg reads it (which_dg.find_dg), and its .env
    installed = sorted((project_path / ".venv").glob("lib/python*/site-packages"))
    return [
        project_path,
        project_path / DG_TOML,
        project_path / PYPROJECT,
        project_path / LOCK_FILE,
        project_path / ".env",
        *installed,
    ]


def _last_change(project: Project) -> float | None:
    """The newest change we can see: config, lock file or installed packages."""
    root = str(project.path)  # plain strings: this runs for every project the monitor looks at
    newest = None
    for name in (PYPROJECT, DG_TOML, LOCK_FILE, ".venv"):
        try:
            mtime = os.stat(os.path.join(root, name)).st_mtime
        except OSError:
            continue
        newest = mtime if newest is None else max(newest, mtime)
    return newest
