"""Signed-in sessions that can be ended: one SQLite file in the state dir, shared by processes.

The browser's cookie carries a random session id; only its SHA-256 is stored here, so a
copy of this file signs nobody in. A session ends by signing out, when its user's token is
rotated or the user removed (`envboard users rotate|remove` deletes the rows; a running
server reads the same file on every request, so it takes effect at once), after `idle`
seconds without a request, and `max_age` seconds after sign-in, whatever happens.

Each session also records a fingerprint of the token it was opened with: a token replaced
by any means (even a hand edit of the users file) ends the sessions opened with the old one.

Every signed-in request asks about its session, and a SQLite read per request was most of
what a signed-in page cost beyond an anonymous one. A row read is remembered with the
database's version: the file's identity and SQLite's file change counter (bytes 24-27 of
its header, which every commit in rollback-journal mode increments, whichever process or
connection makes it). While both are the same, nothing was written since, so the row is
what the database holds; the idle and absolute lifetimes and the token are tested on it
each time, as on a row just read. One `stat` and one 22-byte read per request.

The version holds more than the counter, as SQLite's own cache does: the 16 header bytes
SQLite compares (counter, page count, free list) and the file's size, mtime and ctime. A
file whose inode number was freed and given to a new one, or a copy written over it in
place, can reach the same counter with other rows. A row is remembered only when the version
read after it is the one read before: a header read while a commit writes it, or one a
crashed writer left before its journal rolled it back, is never remembered.

Under load the look at the version is shared (`SharedLook`): a look begun after a request
arrived is as good as the request's own, so one `stat` and read serve every request that
arrived before it began. A row is remembered only on a look of its own, after the read.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ..disk.private import private_file
from ..disk.sqlite import ThreadConnections
from ..disk.stamps import SharedLook

DEFAULT_IDLE = 12 * 3600.0  # a working day, and a bit
DEFAULT_MAX_AGE = 7 * 86400.0  # a week: sign in again every Monday
TOUCH_EVERY = 60.0  # write last_seen at most this often per session (reads are free)
FILE_NAME = "sessions.sqlite3"
ROWS_KEPT = 4096  # sessions remembered; past that the memory starts afresh
_LEGACY_FORMAT = b"\x01\x01"  # header bytes 18-19: rollback journal (2 would be WAL, whose
# commits do not touch the change counter in the database file: nothing is remembered then)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id_sha256 TEXT PRIMARY KEY,
    user TEXT NOT NULL,
    token_fingerprint TEXT NOT NULL,
    created REAL NOT NULL,
    last_seen REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_user ON sessions (user);
"""


class SessionStoreError(Exception):
    """The session store cannot be used; the message says why (sign-in is then unavailable)."""


@dataclass(frozen=True)
class SessionInfo:
    user: str
    created: float
    last_seen: float


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@functools.lru_cache(maxsize=ROWS_KEPT)  # a browser sends the same id with every request
def _session_key(session_id: str) -> str:
    return _digest(session_id)


@functools.lru_cache(maxsize=ROWS_KEPT)  # every signed-in request asks, with the same few
def token_fingerprint(token_sha256: str) -> str:
    """A short tag of the token's hash (not of the token): tells one token from its successor."""
    return _digest("envboard-session:" + token_sha256)[:16]


def parse_duration(text: str) -> float:
    """`90`, `90s`, `30m`, `12h`, `7d` -> seconds; raises ValueError with a readable message."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    value = text.strip().lower()
    factor = units.get(value[-1:])
    number = value[:-1] if factor else value
    try:
        seconds = float(number) * (factor or 1)
    except ValueError:
        raise ValueError(f"{text!r} is not a duration (e.g. 90s, 30m, 12h, 7d)") from None
    if not seconds > 0:
        raise ValueError(f"{text!r}: a duration must be more than zero")
    return seconds


class SessionStore:
    """Sessions in `state_dir/sessions.sqlite3`, through one connection per thread that is
    opened again whenever the file at that path is another one (a state dir moved or
    recreated); `envboard users rotate` in another process writes to the same file."""

    def __init__(
        self,
        state_dir: Path,
        idle: float = DEFAULT_IDLE,
        max_age: float = DEFAULT_MAX_AGE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = state_dir / FILE_NAME
        self.idle, self.max_age = idle, max_age
        self._connections = ThreadConnections(self.path, self._set_up, timeout=5)
        self.clock = clock  # seconds since the epoch (tests pass one they move on by hand)
        self._path_text = str(self.path)
        self._files = threading.local()  # each thread's _HeldFile
        self._rows: dict[str, tuple[tuple, SessionInfo, str]] = {}  # id hash -> (version, row, fingerprint)
        self._touching: set[str] = set()  # id hashes whose last_seen a request is writing now
        self._touching_lock = threading.Lock()
        self._looked = SharedLook(self.version)  # one look at the version for many requests

    def _set_up(self, connection: sqlite3.Connection) -> None:
        """A new connection: the schema, and the file readable by envboard's user alone."""
        connection.executescript(_SCHEMA)
        private_file(self.path)

    @contextlib.contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        try:
            connection = self._connections.get()
        except (OSError, sqlite3.Error) as exc:
            raise SessionStoreError(self._why(exc)) from exc
        try:
            yield connection
        except sqlite3.Error as exc:
            self._connections.forget()  # the next call opens (and sets up) the file anew
            raise SessionStoreError(self._why(exc)) from exc

    def _why(self, exc: BaseException) -> str:
        detail = getattr(exc, "strerror", None) or str(exc)
        return f"the session store {self.path} cannot be written ({detail})"

    def problem(self) -> str | None:
        """Why sign-in cannot work right now, or None (a write is tried, then undone)."""
        try:
            with self._db() as db:
                db.execute("BEGIN IMMEDIATE")  # needs a write lock: fails on a read-only file or dir
                db.execute("ROLLBACK")
        except SessionStoreError as exc:
            return str(exc)
        return None

    def create(self, user: str, token_sha256: str) -> str:
        """A new session for `user`; returns the id to put in the (signed) cookie."""
        session_id = secrets.token_urlsafe(32)
        now = self.clock()
        with self._db() as db:
            db.execute(
                "INSERT INTO sessions VALUES (?, ?, ?, ?, ?)",
                (_digest(session_id), user, token_fingerprint(token_sha256), now, now),
            )
            # expired rows of anyone go now: the table stays as small as the team
            db.execute(
                "DELETE FROM sessions WHERE last_seen < ? OR created < ?",
                (now - self.idle, now - self.max_age),
            )
        return session_id

    def version(self) -> tuple | None:
        """The file at the path, its size and times, and SQLite's change counter and page counts:
        equal answers mean no commit came between them. None when that cannot be told (no file
        yet, a WAL database, an error)."""
        try:
            info = os.stat(self._path_text)
            identity = (info.st_dev, info.st_ino)
            held: _HeldFile | None = getattr(self._files, "held", None)
            if held is None or held.identity != identity:
                self._files.held = None  # closes the one held before
                held = _HeldFile(self._path_text)
                if held.identity != identity:  # replaced between the stat and the open
                    return None
                self._files.held = held
            header = os.pread(held.descriptor, 22, 18)
        except OSError:
            return None
        if len(header) < 22 or header[:2] != _LEGACY_FORMAT:
            return None
        return (identity, info.st_size, info.st_mtime_ns, info.st_ctime_ns, header[6:22])

    def check(
        self, session_id: str, token_sha256: str | None, arrived: int | None = None
    ) -> SessionInfo | None:
        """The live session with this id, or None (unknown, ended, expired, or its token replaced).
        `arrived`: when the request arrived (time.monotonic_ns()); a look at the version begun
        since then serves it (SharedLook)."""
        key = _session_key(session_id)
        now = self.clock()
        fingerprint_now = token_fingerprint(token_sha256) if token_sha256 is not None else None
        version = self._looked(arrived)  # before the read: a commit after it shows as another version
        remembered = self._rows.get(key)
        if remembered is not None and version is not None and remembered[0] == version:
            _, info, fingerprint = remembered
            if fingerprint == fingerprint_now and not self._expired(info, now) and not self._due(info, now):
                return info
        self._rows.pop(key, None)
        with self._db() as db:
            row = db.execute(
                "SELECT user, token_fingerprint, created, last_seen FROM sessions WHERE id_sha256 = ?",
                (key,),
            ).fetchone()
            if row is None:
                return None
            user, fingerprint, created, last_seen = row
            info = SessionInfo(user, created, last_seen)
            if self._expired(info, now) or fingerprint != fingerprint_now:
                db.execute("DELETE FROM sessions WHERE id_sha256 = ?", (key,))
                return None
            if self._due(info, now) and self._first_to_touch(key):
                try:
                    with contextlib.suppress(sqlite3.Error):  # a read-only moment must not sign anyone out
                        db.execute("UPDATE sessions SET last_seen = ? WHERE id_sha256 = ?", (now, key))
                finally:
                    with self._touching_lock:
                        self._touching.discard(key)
                return info  # written: the next request reads the row again, under the new version
        # nothing written while it was read: a look of its own, begun after the read
        if version is not None and self._looked() == version:
            if len(self._rows) >= ROWS_KEPT:
                self._rows.clear()
            self._rows[key] = (version, info, fingerprint)
        return info

    def _first_to_touch(self, key: str) -> bool:
        """Whether this request writes the session's last_seen: one at a time per session. Every
        request in flight finds it due at the same moment (a page and its polls, or tabs, share
        the session), and each writing it meant a commit apiece, queued on SQLite's lock."""
        with self._touching_lock:
            if key in self._touching:
                return False
            self._touching.add(key)
            return True

    def _expired(self, info: SessionInfo, now: float) -> bool:
        return now - info.last_seen > self.idle or now - info.created > self.max_age

    def _due(self, info: SessionInfo, now: float) -> bool:
        """Whether last_seen is to be written now (at most every TOUCH_EVERY: reads are free)."""
        return now - info.last_seen > min(TOUCH_EVERY, self.idle / 4)

    def end(self, session_id: str) -> None:
        with self._db() as db:
            db.execute("DELETE FROM sessions WHERE id_sha256 = ?", (_digest(session_id),))

    def end_user(self, user: str) -> int:
        """End every session of `user`; returns how many there were."""
        with self._db() as db:
            return db.execute("DELETE FROM sessions WHERE user = ?", (user,)).rowcount

    def count(self, user: str) -> int:
        now = self.clock()
        with self._db() as db:
            return db.execute(
                "SELECT COUNT(*) FROM sessions WHERE user = ? AND last_seen >= ? AND created >= ?",
                (user, now - self.idle, now - self.max_age),
            ).fetchone()[0]


class _HeldFile:
    """A thread's read-only descriptor of the sessions file, closed when the thread's memory
    goes: a server that starts a thread per request (werkzeug's) must not keep one per thread."""

    __slots__ = ("descriptor", "identity")

    def __init__(self, path: str) -> None:
        self.descriptor = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        info = os.fstat(self.descriptor)
        self.identity = (info.st_dev, info.st_ino)

    def __del__(self) -> None:
        with contextlib.suppress(OSError, AttributeError):  # AttributeError: the open failed
            os.close(self.descriptor)
