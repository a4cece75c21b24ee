"""The board's background tasks: named, deduplicated, counted per project, told when they end.

Slow work (uv's status check, the plugin probe, `uv lock --check`, the load check) runs in a
bounded pool; a task under a name that is already running is joined, never started twice, so
two viewers never start the same probe. What to run is the board's business (`board.py`,
`checks.py`); this is how it runs: which projects have work pending, who is told when a task
ends, and that nothing new starts once the server is stopping.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

from ..workspace.scan import Project


class BackgroundTasks:
    """Mixed into `Board`, whose constructor makes these attributes (one lock guards them all)."""

    _pool: ThreadPoolExecutor
    _running: dict[str, Future]
    _busy: dict[Path, int]
    _checking: set[Path]  # load checks queued or running (checks.py)
    _finished: set[Path]
    _changing: dict[Path, int]  # projects a job is changing, and how many jobs
    _task_projects: dict[str, Path]  # each named task's project
    shared_with: Callable[[Project], list[Project]]
    _lock: threading.Lock
    _closed: bool
    task_listeners: list[Callable[[], None]]

    def is_busy(self, project: Project) -> bool:
        with self._lock:
            return self._busy.get(project.path, 0) > 0

    @contextlib.contextmanager
    def changing(self, project: Project) -> Iterator[None]:
        """A job of this board changes the project's environment meanwhile (a sync, an upgrade,
        a rollback), and with it every project that shares that environment.

        Looks start nothing for them in the background then (`Board.state`), and what was
        queued for them and has not started is cancelled: a probe, a status or a load check
        would describe a half-installed environment, and a load check costs seconds and a line
        in the history beside the job's own. The job asks what it needs at its end; when it
        lets go, the monitor looks at them again and starts whatever is still missing.
        """
        paths = [project.path, *(other.path for other in self.shared_with(project))]
        with self._lock:
            for path in paths:
                self._changing[path] = self._changing.get(path, 0) + 1
            queued = [
                future
                for name, future in self._running.items()
                if self._task_projects.get(name) in paths and not future.running()
            ]
        for future in queued:
            future.cancel()  # its done-callback forgets it, as for any task that ended
        try:
            yield
        finally:
            with self._lock:
                for path in paths:
                    self._changing[path] -= 1
                    if not self._changing[path]:
                        del self._changing[path]
            for path in paths:
                self.mark_changed(path)

    def is_changing(self, project: Project) -> bool:
        with self._lock:
            return project.path in self._changing

    def mark_changed(self, project_path: Path) -> None:
        """Something envboard did changed this project (a job ended): the monitor looks again."""
        with self._lock:
            self._finished.add(project_path)
        for listener in self.task_listeners:
            listener()

    def take_finished(self) -> set[Path]:
        """The projects whose status check or probe ended since the last call."""
        with self._lock:
            finished, self._finished = self._finished, set()
        return finished

    def _joined(self, name: str) -> bool:
        """Waits for the task under this name if it has started; True if there was one. A task
        still queued is not waited for: it may be queued behind the caller itself."""
        with self._lock:
            future = self._running.get(name)
        if future is None or not (future.running() or future.done()):
            return False
        wait([future])
        return True

    def _submit(
        self,
        name: str,
        work: Callable[[], Any],
        project: Project,
        pool: ThreadPoolExecutor | None = None,
        busy: bool = True,
        by_job: bool = False,
    ) -> Future | None:
        """The task under this name, started unless one is running; None once the board is closed,
        or while a job is changing the project, unless the job itself asks (`by_job`).

        `busy=False` tasks (load checks) do not mark the project pending: pages do not poll faster
        for a check that may take a minute.
        """

        def unless_changing() -> Any:
            # a job that began while this waited for a thread: it asks at its end, the monitor after it
            return None if not by_job and self.is_changing(project) else work()

        with self._lock:
            if self._closed or (project.path in self._changing and not by_job):
                return None
            running = self._running.get(name)
            if running is not None:
                return running
            future = (pool or self._pool).submit(unless_changing)
            self._register(name, future, project, busy)
        future.add_done_callback(self._forgetter(name, future, project, busy))  # not under the lock
        return future

    def _run_here(self, name: str, work: Callable[[], Any], project: Project) -> Any:
        """`work` begun now on the caller's thread, under this name, so that a look meanwhile joins
        it instead of starting its own. One already running began earlier (it may not see what
        the caller just changed): it is waited for first. One still queued may be queued behind
        the caller: the work then runs unnamed, as it does once the board is closed. If the board
        closed while the caller waited, nothing new starts: the answer is the one waited for
        (the close ended it), not project code run again after the server's last clean-up."""
        waited: Future | None = None
        while True:
            with self._lock:
                if self._closed and waited is not None:
                    return waited.result()
                running = self._running.get(name)
                if running is None and not self._closed:
                    future: Future = Future()
                    future.set_running_or_notify_cancel()
                    self._register(name, future, project, True)
                    break
            if running is None or not (running.running() or running.done()):
                return work()
            wait([running])
            waited = running
        future.add_done_callback(self._forgetter(name, future, project, True))
        try:
            result = work()
        except BaseException as exc:
            future.set_exception(exc)
            raise
        future.set_result(result)
        return result

    def _register(self, name: str, future: Future, project: Project, busy: bool) -> None:
        """Called under the lock: the task is known by its name until it ends."""
        self._running[name] = future
        self._task_projects[name] = project.path
        if busy:
            self._busy[project.path] = self._busy.get(project.path, 0) + 1

    def _forgetter(self, name: str, future: Future, project: Project, busy: bool) -> Callable[[Future], None]:
        """What forgets the task when it ends and tells the listeners."""

        def forget(_: Future) -> None:
            with self._lock:
                if self._running.get(name) is future:
                    del self._running[name]
                    del self._task_projects[name]
                    if busy:
                        self._busy[project.path] -= 1
                if not busy:
                    self._checking.discard(project.path)  # a cancelled check never ran its finally
                self._finished.add(project.path)
            for listener in self.task_listeners:
                listener()

        return forget
