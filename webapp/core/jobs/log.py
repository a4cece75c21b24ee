"""A job's log: one file on disk, appended to while the job runs, read back from an offset.

Every reader and writer of a job's output goes through `JobLog`: the job manager's own
lines (`[envboard] ...`), the streaming of a command's output, the page's live log, the
command line copying it to a terminal, and the failure message taken from its tail.
A log is never held in memory; a reader asks for the bytes after the offset it has
shown, and gets whole characters and escape codes only (a cut one waits for the next
read), unless the job has ended and this is the end of its log.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ..environments.output import safe_cut

CHUNK = 256 * 1024  # the most one read returns
TAIL = 1024 * 1024  # a page opened on a big log starts this far from its end


class LogOffsetError(ValueError):
    """An offset this log has not reached."""


@dataclass(frozen=True)
class LogChunk:
    text: str  # whole characters and escape codes only: a cut one waits for the next chunk
    offset: int  # where the next chunk starts
    skipped: int  # bytes left out at the start (a page opened on a big log)
    done: bool  # the job has ended and this is the end of its log
    more: bool = False  # bytes beyond this chunk are there already: a reader asks again at once


@dataclass(frozen=True)
class JobLog:
    path: str | None  # None for a job recorded without a log (never written, reads as empty)

    def create(self) -> None:
        """An empty log, so a page opened before the first byte streams from offset 0."""
        if self.path:
            Path(self.path).touch(mode=0o600)  # the state dir's files are its user's alone

    def append(self, text: str) -> None:
        """One of envboard's own lines; a full or missing disk loses the line, never the job."""
        if not self.path:
            return
        with contextlib.suppress(OSError), open(self.path, "a", encoding="utf-8") as handle:
            handle.write(text)

    @contextlib.contextmanager
    def sink(self) -> Iterator[BinaryIO]:
        """The open log, for a process's output to stream into."""
        if not self.path:
            with open(os.devnull, "ab") as nowhere:
                yield nowhere
            return
        with open(self.path, "ab") as handle:
            yield handle

    def read(self, offset: int, *, finished: bool, tail: bool = False) -> LogChunk:
        """What the log holds from `offset` on (at most `CHUNK` bytes).

        `finished` says whether the job has ended (read it *before* calling, so the last
        bytes are never missed); `tail` starts a reader that has shown nothing at the
        last `TAIL` bytes, from a line's start.
        """
        data, skipped = b"", 0
        if self.path and os.path.exists(self.path):
            with open(self.path, "rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                if offset > size:  # seeking there would overflow or lie
                    raise LogOffsetError(f"offset {offset} is past the end of this log ({size} bytes)")
                if tail and size - offset > TAIL:
                    handle.seek(size - TAIL)
                    handle.readline()  # start at a line boundary
                    skipped = offset = handle.tell()
                handle.seek(offset)
                data = handle.read(CHUNK)
        more = len(data) == CHUNK
        data = data[: len(data) if finished and not more else safe_cut(data)]
        text = data.decode("utf-8", errors="replace")
        return LogChunk(text, offset + len(data), skipped, finished and not more, more)

    def tail(self, size: int = 16384) -> str:
        """The last `size` bytes as text ('' when there is no log)."""
        if not self.path:
            return ""
        try:
            with open(self.path, "rb") as handle:
                handle.seek(max(0, os.fstat(handle.fileno()).st_size - size))
                return handle.read().decode("utf-8", errors="replace")
        except OSError:
            return ""
