"""The command line's one look, with a deadline per project.

`envboard list` waits for every project's whole answer (the probe, uv's status check,
`uv lock --check`). A project whose check builds a slow dependency must not hold up the
others until that check's own timeout: each project gets `patience` seconds from when its
work starts; one that outlasts them is shown as still checking, naming the commands it is
waiting for and how long they have run, and the others are shown as they are.
Also the one call a project's look makes beside its probe (`Concurrently`: `uv lock --check`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from ..environments.processes import running_in
from ..environments.resolver import ResolvedEnvironment
from ..environments.status import STATUS_CHECKING, EnvironmentStatus
from ..workspace.scan import Project
from .state import ProjectState


class Concurrently:
    """One call on a thread of its own (not the pool, whose workers may all be waiting on it)."""

    def __init__(self, work: Callable[[], Any]) -> None:
        self._future: Future = Future()
        threading.Thread(target=self._run, args=(work,), name="envboard-lock-check", daemon=True).start()

    def _run(self, work: Callable[[], Any]) -> None:
        try:
            self._future.set_result(work())
        except BaseException as exc:  # noqa: BLE001 - handed to the caller of result()
            self._future.set_exception(exc)

    def result(self) -> Any:
        return self._future.result()


class _Clock:
    """When a project's work began (its deadline runs from then, not from when it was queued)."""

    def __init__(self) -> None:
        self.began = threading.Event()
        self.at = 0.0

    def start(self) -> None:
        self.at = time.monotonic()
        self.began.set()


def each_within(
    pool: Executor,
    projects: list[Project],
    work: Callable[[Project], ProjectState],
    patience: float,
    resolve: Callable[[Project], ResolvedEnvironment | None],
) -> list[ProjectState]:
    """`work` for every project in the pool; for one still at work after `patience` seconds, what
    it is waiting for."""
    clocks = {project.path: _Clock() for project in projects}

    def timed(project: Project) -> ProjectState:
        clocks[project.path].start()
        return work(project)

    futures = [pool.submit(timed, project) for project in projects]
    states = []
    for project, future in zip(projects, futures, strict=True):
        clock = clocks[project.path]
        while not clock.began.wait(0.1) and not future.done():
            pass  # queued behind slower projects: its time has not started yet
        try:
            states.append(future.result(timeout=max(0.0, clock.at + patience - time.monotonic())))
        except FutureTimeout:
            states.append(still_checking(project, resolve(project), patience))
    return states


def still_checking(project: Project, env: ResolvedEnvironment | None, patience: float) -> ProjectState:
    """A project whose answer is not in yet: what it is waiting for, as the launcher knows it."""
    state = ProjectState(project, env=env, pending=True)
    if env is None:
        return state
    now = time.monotonic()
    commands = [
        f"{entry.display()} (running {int(now - entry.started)} s)"
        for entry in running_in(project.path, env.project_root)
    ]
    waiting_for = ", ".join(commands) or "its checks"
    state.status = EnvironmentStatus(STATUS_CHECKING, f"still checking after {patience:g} s: {waiting_for}")
    return state
