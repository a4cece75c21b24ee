"""File stamps, and the one memo of answers that depend on files.

A *stamp* is what envboard knows of a file without reading it: its modification and
change times, size and inode. Any write, replacement or removal changes it. Every
answer that is computed from a file's bytes (a parsed TOML file, uv.lock's pins, a
content hash, a venv's Python version, a mode preview) is remembered here under
`(kind, path, stamp)`, so it is computed once and again only after the file changed:
never stale, and the same rule everywhere.

The memo is one per process on purpose: its keys carry the stamp, so an answer is true
for whichever envboard (or test) asks. It forgets the least recently used answers once
it holds more than `MAX_ENTRIES` of them or more than `MAX_WEIGHT` bytes (an answer's
weight is what its kind says it costs, 1 byte by default).

`SharedLook` is the other side of a stamp under load: one look at a file, shared by the
requests that arrived before it began.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any, Generic, TypeVar

T = TypeVar("T")

Stamp = tuple[int, int, int, int]  # mtime_ns, ctime_ns, size, inode

MAX_ENTRIES = 8192
MAX_WEIGHT = 64 * 1024 * 1024


def stamp(path: Path | str) -> Stamp | None:
    """The file's stamp, or None when it is absent or cannot be looked at."""
    try:
        info = os.stat(path)
    except (OSError, ValueError):  # ValueError: a NUL in the path
        return None
    return (info.st_mtime_ns, info.st_ctime_ns, info.st_size, info.st_ino)


def file_stamp(path: Path | str) -> str:
    """The stamp as text, as recorded with cached answers ("absent" when there is no file)."""
    found = stamp(path)
    return "absent" if found is None else ":".join(map(str, found))


class Memo:
    """Answers by key, least recently used forgotten first; safe across threads.

    Two threads asking for the same missing key may both compute it (the answer is the
    same); computing happens outside the lock, so one slow answer holds up no other.
    """

    def __init__(self, max_entries: int = MAX_ENTRIES, max_weight: int = MAX_WEIGHT) -> None:
        self.max_entries = max_entries
        self.max_weight = max_weight
        self._answers: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._weight = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable, compute: Callable[[], T], weight: Callable[[T], int] | None = None) -> T:
        with self._lock:
            found = self._answers.get(key)
            if found is not None:
                self._answers.move_to_end(key)
                return found[0]
        answer = compute()
        cost = max(1, weight(answer)) if weight else 1
        with self._lock:
            old = self._answers.pop(key, None)
            if old is not None:
                self._weight -= old[1]
            self._answers[key] = (answer, cost)
            self._weight += cost
            while self._answers and (len(self._answers) > self.max_entries or self._weight > self.max_weight):
                _, (_, dropped) = self._answers.popitem(last=False)
                self._weight -= dropped
        return answer

    def __len__(self) -> int:
        return len(self._answers)

    def clear(self) -> None:
        with self._lock:
            self._answers.clear()
            self._weight = 0


_files = Memo()


def remembered(
    kind: str, path: Path | str, compute: Callable[[Path], T], weight: Callable[[T], int] | None = None
) -> T:
    """`compute(path)`, computed once per stamp of the file (and again after it changed).

    `kind` names what is computed, so two readers of one file keep their own answers.
    A failure to keep is returned, not raised: a reader that wants to remember a refusal
    (a broken file stays broken until it changes) returns the exception and raises it.
    """
    key = (kind, str(path), stamp(path))
    return _files.get(key, lambda: compute(Path(path)), weight)


class SharedLook(Generic[T]):
    """A look at files (a stat, a header read) whose answer serves every request that arrived
    before it began.

    A look that began after a request arrived sees every write that had completed by then,
    which is all a request may ask of its own look (a sign-out answered before the next
    request was sent is seen by it). So with many requests in flight, one look serves every
    request that arrived before it began, and each of them skips a system call, which
    releases the interpreter's lock and makes the thread queue for it again behind busy ones.
    `arrived` is `time.monotonic_ns()` at (or before) the request's arrival; None looks anew.
    """

    def __init__(self, look: Callable[[], T]) -> None:
        self._look = look
        self._last: tuple[int, T] | None = None  # (monotonic_ns when the look began, its answer)

    def __call__(self, arrived: int | None = None) -> T:
        last = self._last
        if arrived is not None and last is not None and last[0] > arrived:
            return last[1]
        began = time.monotonic_ns()
        answer = self._look()
        # one assignment publishes both; a racing older look may replace a newer one, which
        # costs later requests a look of their own but never gives them an older answer
        self._last = (began, answer)
        return answer
