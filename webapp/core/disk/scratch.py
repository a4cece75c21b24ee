"""Scratch folders for what envboard hands to project code: the probe's answer, Dagster homes.

They live in the system's temporary folder, where a job user can reach them (the state dir
is hidden from project code). Each envboard process keeps them under one root of its own,
`envboard-scratch-<random>`, and holds an exclusive lock (flock) on the root's `.lock` for as
long as it runs. A process that is killed cannot remove its root, but the kernel releases
its lock: the next envboard to start removes every root of its user whose lock nobody holds.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import stat
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

ROOT_PREFIX = "envboard-scratch-"
MAKING_PREFIX = "envboard-making-"
MAKING_GRACE = 60.0  # seconds after which a root still being made was left by a killed process
LOCK_NAME = ".lock"
ROOT_MODE = 0o711  # a job user passes through to the folder handed to it; it lists nothing

# the folders this process has swept already: a sweep lists the whole temporary folder (on a
# shared box, thousands of other programs' files), and the roots it removes are those of
# processes that ended before this one started, so once per process is enough
_swept: set[Path] = set()
_swept_lock = threading.Lock()


class ScratchRoot:
    """One process's scratch root, made when first needed and removed by `remove()`."""

    def __init__(self, parent: Path | None = None) -> None:
        self.parent = Path(parent or tempfile.gettempdir())
        self._lock = threading.Lock()
        self._root: Path | None = None
        self._held: IO[bytes] | None = None  # the open lock file: the root is in use while it is

    def root(self) -> Path:
        with self._lock:
            if self._root is None:
                with _swept_lock:
                    if self.parent not in _swept:
                        sweep_stale(self.parent)
                        _swept.add(self.parent)
                # made under another name and locked before it gets its own, so that no sweep
                # sees it unlocked
                making = Path(tempfile.mkdtemp(prefix=MAKING_PREFIX, dir=self.parent))
                making.chmod(ROOT_MODE)
                held = open(making / LOCK_NAME, "wb")  # noqa: SIM115 - held until remove()
                fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
                root = making.with_name(ROOT_PREFIX + making.name.removeprefix(MAKING_PREFIX))
                making.rename(root)
                self._root, self._held = root, held
            return self._root

    def folder(self, prefix: str) -> Path:
        """A new folder of its own under the root (0700, its maker's until handed over)."""
        return Path(tempfile.mkdtemp(prefix=prefix, dir=self.root()))

    @contextlib.contextmanager
    def temporary(self, prefix: str) -> Iterator[Path]:
        """A folder for one command, removed after it."""
        folder = self.folder(prefix)
        try:
            yield folder
        finally:
            remove_tree(folder)

    def remove(self) -> None:
        """When envboard stops: everything under the root goes with it."""
        with self._lock:
            root, held, self._root, self._held = self._root, self._held, None, None
        if root is not None:
            remove_tree(root)
        if held is not None:
            held.close()


def sweep_stale(parent: Path) -> list[Path]:
    """Remove the scratch roots of this user that no running envboard holds; returns them."""
    try:
        candidates = sorted(p for p in parent.iterdir() if p.name.startswith((ROOT_PREFIX, MAKING_PREFIX)))
    except OSError:
        return []
    removed: list[Path] = []
    for root in candidates:
        try:
            info = root.lstat()
            if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
                continue  # another user's, or not a folder envboard made: not ours to remove
            if root.name.startswith(MAKING_PREFIX):
                # a process killed while it made its root (before it had its lock, maybe): not one
                # being made now, which is a matter of milliseconds
                if time.time() - info.st_mtime < MAKING_GRACE:
                    continue
                if not (root / LOCK_NAME).exists():
                    remove_tree(root)
                    removed.append(root)
                    continue
            with open(root / LOCK_NAME, "rb") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # refused while its process lives
                remove_tree(root)
            removed.append(root)
        except OSError:
            continue  # in use (BlockingIOError), or gone meanwhile
    return removed


def remove_tree(path: Path) -> None:
    """Remove a scratch folder with whatever project code wrote in it; never raises.

    The job user's own folders in it (Dagster makes its storage folders 0755) cannot be
    emptied by a server that is not root; where it may change owners (the container's server
    keeps CAP_CHOWN for that) it takes them back first. Through file descriptors opened
    without following links: project code may swap a folder for a link meanwhile, and a
    chown through it would hand envboard's user whatever it points at.
    """
    shutil.rmtree(path, ignore_errors=True)
    if not os.path.lexists(path):
        return
    with contextlib.suppress(OSError):
        _take_back(str(path), None)
    shutil.rmtree(path, ignore_errors=True)


def _take_back(name: str, parent: int | None, writer: int | None = None) -> None:
    """Owns and opens this folder and every folder below it (never following a link).

    Only the folders of one other user are taken, the first met (the job user): project code
    can move in a folder of a third user that it may rename but not empty, and CAP_CHOWN
    would otherwise hand envboard's user that folder and everything below it to remove.
    """
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
    fd = os.open(name, flags, dir_fd=parent)
    try:
        owner = os.fstat(fd).st_uid
        if owner != os.geteuid():
            writer = owner if writer is None else writer
            if owner != writer:
                return  # a third user's: not ours to take, left where it is
            os.fchown(fd, os.geteuid(), os.getegid())
        os.fchmod(fd, 0o700)
        with os.scandir(fd) as entries:
            folders = [e.name for e in entries if e.is_dir(follow_symlinks=False)]
        for folder in folders:
            with contextlib.suppress(OSError):
                _take_back(folder, fd, writer)
    finally:
        os.close(fd)
