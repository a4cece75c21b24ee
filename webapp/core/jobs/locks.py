"""The one per-project lock that every envboard process on the box shares.

A sync and a mode change of the same project must never overlap, whether they come
from the server, from `envboard sync` / `envboard mode` in a shell, or from two servers
sharing a state dir. Both take this lock (an OS file lock through `filelock`, released
by the kernel if the holder dies).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout


class ProjectBusy(Exception):
    """Another envboard process (or job) holds the project's lock."""


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
    ) -> Iterator[None]:
        """Hold the project's lock for the `with` block.

        When another process has it, `on_wait` is called once and the wait goes on for
        `timeout` seconds (-1: as long as it takes); then ProjectBusy is raised.
        """
        lock = self._lock(project_path)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            if on_wait is not None:
                on_wait()
            try:
                lock.acquire(timeout=timeout)
            except Timeout:
                raise ProjectBusy(f"{project_path} is being changed by another envboard job") from None
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
