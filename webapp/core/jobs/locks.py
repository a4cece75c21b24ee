"""The one per-project lock that every envboard process on the box shares.

A sync and a mode change of the same project must never overlap, whether they come
from the server, from `envboard sync` / `envboard mode` in a shell, or from two servers
sharing a state dir. Both take this lock (an OS file lock through `filelock`, released
by the kernel if the holder dies).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from ..environments.processes import Cancellation

WAIT_STEP = 0.1  # a waiting job looks at its cancel switch this often


class ProjectBusy(Exception):
    """Another envboard process (or job) holds the project's lock."""


class WaitCancelled(ProjectBusy):
    """The job was cancelled (or the server is stopping) while it waited for the lock."""


class ProjectLocks:
    """Hands out the lock of each project; lock files live in `<state dir>/locks`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _lock(self, project_path: Path | str) -> FileLock:
        self.folder.mkdir(parents=True, exist_ok=True)
        name = hashlib.sha256(str(project_path).encode()).hexdigest()[:24]
        return FileLock(self.folder / f"{name}.lock", thread_local=False)

    @contextmanager
    def hold(
        self,
        project_path: Path | str,
        *,
        timeout: float = -1,
        on_wait: Callable[[], None] | None = None,
        cancel: Cancellation | None = None,
    ) -> Iterator[None]:
        """Hold the project's lock for the `with` block.

        When another process has it, `on_wait` is called once and the wait goes on for
        `timeout` seconds (-1: as long as it takes); then ProjectBusy is raised. A `cancel`
        flipped meanwhile ends the wait within WAIT_STEP with WaitCancelled: a lock held by a
        shell's `envboard sync` for an hour must not hold up a Cancel or a server's stop.
        """
        lock = self._lock(project_path)
        if not _acquired(lock, 0):
            if on_wait is not None:
                on_wait()
            deadline = float("inf") if timeout < 0 else time.monotonic() + timeout
            while not _acquired(lock, min(WAIT_STEP, deadline - time.monotonic())):
                if cancel is not None and cancel.requested:
                    raise WaitCancelled(f"cancelled while waiting for the lock of {project_path}")
                if time.monotonic() >= deadline:
                    raise ProjectBusy(f"{project_path} is being changed by another envboard job")
        try:
            yield
        finally:
            lock.release()

    def is_held(self, project_path: Path | str) -> bool:
        """True while some process holds the project's lock (for recovery after a restart)."""
        try:
            lock = self._lock(project_path)
            lock.acquire(timeout=0)
        except Timeout:
            return True
        except OSError:
            return False
        lock.release()
        return False


def _acquired(lock: FileLock, timeout: float) -> bool:
    try:
        lock.acquire(timeout=max(0.0, timeout), poll_interval=0.02)
    except Timeout:
        return False
    return True
