"""One SQLite connection per thread and database file, opened once and set up once.

Pages poll every fraction of a second, and each poll reads the history or the sessions:
connecting, setting the journal mode and running the schema on every call cost more
than the query. A thread keeps its connection while the file it opened is still the
file at that path: a database that was removed, replaced or moved away (a state dir
recreated, `envboard users rotate` from another process replacing nothing but writing
through its own connection) is opened afresh, so nothing is ever written into a file
nobody will read again. Checking that costs one `stat`.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path


class ThreadConnections:
    def __init__(self, path: Path, setup: Callable[[sqlite3.Connection], None], timeout: float) -> None:
        self.path = path
        self._setup = setup  # run once per new connection (journal mode, schema)
        self._timeout = timeout
        self._local = threading.local()

    def get(self) -> sqlite3.Connection:
        """This thread's connection to the file now at `path` (created with its folder if absent)."""
        held: tuple[sqlite3.Connection, tuple[int, int]] | None = getattr(self._local, "held", None)
        if held is not None:
            connection, identity = held
            if _identity(self.path) == identity:
                return connection
            self.forget()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(self.path, timeout=self._timeout, isolation_level=None)
        try:
            self._setup(connection)
            identity = _identity(self.path)
        except BaseException:
            connection.close()
            raise
        if identity is not None:
            self._local.held = (connection, identity)
        return connection

    def forget(self) -> None:
        """Close this thread's connection (after an error, or when its file went)."""
        held = getattr(self._local, "held", None)
        self._local.held = None
        if held is not None:
            held[0].close()


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_dev, info.st_ino)
