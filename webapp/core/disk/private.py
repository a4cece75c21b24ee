"""envboard's own files are its user's alone: the state dir 0700, what is in it 0600.

The state dir holds the session signing key, the sessions, the history and the job logs.
On a shared box another Unix user (or project code run as a job user) must not read
them; the folder's mode alone already stops them, the files' modes keep a file that is
copied or moved out of it private too. Only what this user owns is changed.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

FOLDER_MODE = 0o700
FILE_MODE = 0o600


def private_folder(path: Path) -> None:
    """Create the folder if needed and make it its owner's alone; never raises (a read-only
    state dir is reported where it is used)."""
    with contextlib.suppress(OSError):
        path.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
    _restrict(path, FOLDER_MODE)


def private_file(path: Path) -> None:
    """Make an existing file (a database, a log) its owner's alone."""
    _restrict(path, FILE_MODE)


def _restrict(path: Path, mode: int) -> None:
    with contextlib.suppress(OSError):
        info = path.stat()
        if info.st_uid == os.geteuid() and info.st_mode & 0o777 != mode:
            path.chmod(mode)
