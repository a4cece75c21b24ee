"""How jobs end when things go wrong: a full disk, a stopping server, a restarted one.

Apart from the queue because none of it is the ordinary course of a job:
- an ending a full disk refused is retried each `RECORD_RETRY` seconds, so a job does not
  read `running` for ever once space returns;
- a stopping server cancels every queued and running job, ends their process groups and
  records each as `interrupted`;
- a starting server marks as `interrupted` the jobs the history says are running but whose
  process is gone, and ends what is left of their processes.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from pathlib import Path
from typing import Any

from ..environments.leftovers import end_leftover_groups
from .history import INTERRUPTED, HistoryError, JobRecord
from .log import JobLog

log = logging.getLogger("envboard.jobs")
RECORD_RETRY = 1.0  # seconds between tries to record a job's end that a full disk refused


class Stopping:
    """Recovery, stopping and retried endings; mixed into `JobManager`, whose state they use."""

    # -- recovery ---------------------------------------------------------------------------

    def recover(self) -> list[str]:
        """Jobs the history says are running but whose process is gone become `interrupted`."""
        if self.unavailable:
            return []
        recovered = []
        for record in self.history.unfinished():
            if self.locks.is_held(record.project_path):
                continue  # another live envboard process (the command line) owns this job
            end_leftover_groups(record.id, self.term_grace)
            self._interrupt(record, "the server stopped during this job")
            recovered.append(record.id)
        return recovered

    def _interrupt(self, record: JobRecord, reason: str, **fields: Any) -> None:
        current = self.get(record.id)
        if current is None or current.finished:
            return  # ended already (by the job itself, or by the other side of a stop)
        # the line goes first: a reader that sees the job ended has read it
        JobLog(record.log_path).append(f"\n[envboard] interrupted: {reason}\n")
        self._finish(
            record, INTERRUPTED, message=f"interrupted: {reason}; its log is kept up to that point", **fields
        )

    # -- endings a full disk refused -------------------------------------------------------------

    def _finish_or_retry(self, record: JobRecord, status: str, **fields: Any) -> None:
        """Record the ending now, or, when the history cannot be written (a full disk), as soon as
        it can: a job must not read `running` for ever once space returns. The next start's
        recovery ends it if this process is gone before then."""
        try:
            self._finish(record, status, **fields)
        except HistoryError as exc:
            log.warning("job=%s: its end cannot be recorded yet (%s); retrying", record.id, exc)
            with self._lock:
                self._unrecorded.append((record, status, fields))
                if self._recorder is None or not self._recorder.is_alive():
                    recorder = threading.Thread(target=self._record_later, name="job-recorder", daemon=True)
                    self._recorder = recorder
                    recorder.start()

    def _record_later(self) -> None:
        while not self._closed.wait(RECORD_RETRY):
            with self._lock:
                pending, self._unrecorded = self._unrecorded, []
            for record, status, fields in pending:
                try:
                    self._finish(record, status, **fields)
                except HistoryError:
                    with self._lock:
                        self._unrecorded.append((record, status, fields))
                    continue
                with self._lock:
                    self.generation += 1  # pages polling the job see it end
                self.board.mark_changed(Path(record.project_path))
            with self._lock:
                if not self._unrecorded:
                    self._recorder = None
                    return

    # -- a stopping server ------------------------------------------------------------------------

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            for entry in self._active.values():
                entry.cancel.cancel()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def interrupt_all(self, reason: str, timeout: float = 2.0) -> list[str]:
        """End every queued and running job of a server that is stopping; each ends `interrupted`.

        The launcher TERMs each running job's process group; a group still there after half
        the timeout is KILLed, so the whole stop takes `timeout` at most. Queued jobs never
        start. Returns the ids of the jobs interrupted.
        """
        self._stopping = reason
        with self._lock:
            entries = list(self._active.values())
        for entry in entries:
            entry.cancel.cancel()
        waiter = threading.Thread(
            target=self._pool.shutdown, kwargs={"wait": True, "cancel_futures": True}, daemon=True
        )
        waiter.start()
        waiter.join(timeout / 2)
        if waiter.is_alive():  # a group that ignores TERM gets no more grace than this
            for entry in entries:
                end_leftover_groups(entry.record.id, grace=0)
            waiter.join(timeout / 2)
        interrupted = []
        for entry in entries:
            record = self.get(entry.record.id)
            if record is not None and not record.finished:  # queued: it never ran to record itself
                with contextlib.suppress(HistoryError):
                    self._interrupt(record, reason)
            interrupted.append(entry.record.id)
        return interrupted
