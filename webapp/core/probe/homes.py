"""The Dagster homes (DAGSTER_HOME) the load checks run in, kept per project between checks.

Dagster creates its instance's storage in its home the first time (SQLite files for runs
and schedules, about a tenth of a check): a home kept between checks, as a person keeps
theirs, pays that once. Each holds only Dagster's telemetry setting and what Dagster
writes; none is in the project's folder nor in envboard's state.

The folder holding them is envboard's and lets the job user pass through only: envboard
(root, when there is a job user) makes each home, writes its dagster.yaml and hands it
over, and where project code could add names beside the homes it could put a symlink
where the next one is made, for root to write and chown through. The homes' names are
random, so project code does not find another project's home either. A server killed
before it removed its folder leaves it behind; the next server to make one removes it.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

from ..environments.confinement import Confinement
from ..workspace.scan import Project

FOLDER_PREFIX = "envboard-checks-"
# the server that made it: its process-id namespace (a /tmp shared with a container's is not
# ours to judge) and its pid
_FOLDER_NAME = re.compile(re.escape(FOLDER_PREFIX) + r"(\d+)-(\d+)-")


class DagsterHomes:
    """Dagster homes for the checks, each used by one command at a time and kept for the next."""

    def __init__(self, confinement: Confinement, base: Path | None = None) -> None:
        self.confinement = confinement
        self.base = base  # where the folder is made: the system's temp folder unless given
        self._lock = threading.Lock()
        self._folder: Path | None = None
        # by project: the environment its homes were made for, and those no command is using
        self._free: dict[Path, tuple[str, list[Path]]] = {}

    @contextlib.contextmanager
    def lend(self, project: Project, environment: str) -> Iterator[Path]:
        """A home no other command is using, the project's last one where there is one.

        `environment` names what is installed: a home is kept only while it stays the same, as
        the storage Dagster made there is of its version's schema (an older Dagster, after a
        rollback say, may not open a newer one's); the homes of the one before are removed.
        """
        with self._lock:
            made_for, free = self._free.get(project.path, (environment, []))
            stale = free if made_for != environment else []
            free = [] if stale else free
            self._free[project.path] = (environment, free)
            home = free.pop() if free else None
            if self._folder is None:
                self._folder = self._make_folder()
            folder = self._folder
        for path in stale:
            shutil.rmtree(path, ignore_errors=True)
        if home is None:
            home = Path(tempfile.mkdtemp(prefix="home-", dir=folder))  # 0700 until it is ready
            (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
            self.confinement.hand_over(home)
        try:
            yield home
        finally:
            with self._lock:
                made_for, free = self._free.get(project.path, (environment, []))
                # not when the homes were removed meanwhile, nor what changed under it
                kept = self._folder == folder and made_for == environment
                if kept:
                    free.append(home)
            if not kept:
                shutil.rmtree(home, ignore_errors=True)

    def remove(self) -> None:
        """When envboard stops: the homes go with it."""
        with self._lock:
            folder, self._folder, self._free = self._folder, None, {}
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)

    def _make_folder(self) -> Path:
        base = self.base or Path(tempfile.gettempdir())
        _remove_left_behind(base)
        folder = Path(tempfile.mkdtemp(prefix=f"{FOLDER_PREFIX}{_pid_namespace()}-{os.getpid()}-", dir=base))
        if self.confinement.user is not None:
            folder.chmod(0o711)  # the job user reaches its homes; it lists and adds nothing here
        return folder


def _remove_left_behind(base: Path) -> None:
    """The folders of servers that were killed (their process is gone): this user's own only."""
    for path in base.glob(f"{FOLDER_PREFIX}*"):
        made_by = _FOLDER_NAME.match(path.name)
        try:
            if made_by is None or path.is_symlink() or path.lstat().st_uid != os.geteuid():
                continue
            if int(made_by.group(1)) != _pid_namespace():
                continue
            os.kill(int(made_by.group(2)), 0)
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
        except (OSError, OverflowError):  # alive under another user (PermissionError), gone, no pid
            continue


def _pid_namespace() -> int:
    try:
        return os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return 0
