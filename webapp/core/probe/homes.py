"""The Dagster homes (DAGSTER_HOME) the load checks run in, kept per project between checks.

Dagster creates its instance's storage in its home the first time (SQLite files for runs
and schedules, about a tenth of a check): a home kept between checks, as a person keeps
theirs, pays that once. Each holds only Dagster's telemetry setting and what Dagster
writes; none is in the project's folder nor in envboard's state.

The folder holding them is envboard's and lets the job user pass through only: envboard
(root, when there is a job user) makes each home, writes its dagster.yaml and hands it
over, and where project code could add names beside the homes it could put a symlink
where the next one is made, for root to write and chown through. The homes' names are
random, so project code does not find another project's home either. The folder is in
envboard's scratch root (`disk/scratch.py`): removed when envboard stops, and by the next
start after a kill.
"""

from __future__ import annotations

import contextlib
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

from ..disk.scratch import ScratchRoot, remove_tree
from ..environments.confinement import Confinement
from ..workspace.scan import Project


class DagsterHomes:
    """Dagster homes for the checks, each used by one command at a time and kept for the next."""

    def __init__(self, confinement: Confinement, scratch: ScratchRoot | None = None) -> None:
        self.confinement = confinement
        self.scratch = scratch or ScratchRoot()
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
            remove_tree(path)
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
                remove_tree(home)

    def remove(self) -> None:
        """When envboard stops: the homes go with it."""
        with self._lock:
            folder, self._folder, self._free = self._folder, None, {}
        if folder is not None:
            remove_tree(folder)

    def _make_folder(self) -> Path:
        folder = self.scratch.folder("checks-")
        if self.confinement.user is not None:
            folder.chmod(0o711)  # the job user reaches its homes; it lists and adds nothing here
        return folder
