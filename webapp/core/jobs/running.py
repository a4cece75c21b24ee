"""A queued job on its pool thread: the project's lock, the kept files, the work, the end.

Apart from the queue (`manager.py` decides *when* a job runs) and from the work itself
(`sync.run_sync`, an upgrade's or a rollback's): this is what every such job does around
its work, in order. It waits for the project's lock (a cancel ends the wait), keeps the
files the work may replace, marks the job started unless it was ended meanwhile, runs
the work, prunes the kept files the retention no longer covers (`kept.prune`),
records how it ended (`interrupted` when the server is stopping), frees the lock, and
only then has the Dagster webserver asked to reload (`telling.py`), if the work says so.
Then it lets go of the project (`released`): a job of the project asked for between its
recorded end and that moment waits for it (`_deciding`) instead of joining the ended one.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from ..environments.processes import Cancellation
from ..workspace.scan import Project
from . import sync
from .history import CANCELLED, FAILED, RUNNING, HistoryError, JobRecord
from .kept import KEEPING_ACTIONS, STORE, keep, prune, sweep
from .locks import WaitCancelled
from .log import JobLog

log = logging.getLogger("envboard.jobs")

RELEASE_WAIT = 10.0  # how long a new job waits for an ended one to let go of its project (a moment)


@dataclass
class _Running:
    record: JobRecord
    cancel: Cancellation
    work: Callable[..., sync.Outcome] | None = None  # what the job runs, like `sync.run_sync`; None: a sync
    started: threading.Event = field(default_factory=threading.Event)  # its thread took it
    # set when that thread has let go of the project (its lock released, its entry removed):
    # its end is recorded a moment before that
    released: threading.Event = field(default_factory=threading.Event)


class Runner:
    """Runs a queued job; mixed into `JobManager`, whose queue, lock, history and endings it uses."""

    def _run_sync(self, project: Project, entry: _Running) -> None:
        record = entry.record
        entry.started.set()  # from here on it lets go of the project, whatever happens
        try:
            if entry.cancel.requested:
                if self._stopping:
                    self._interrupt(record, self._stopping)
                else:
                    self._finish(record, CANCELLED, message="cancelled before it started")
                return
            waiting = "[envboard] waiting: another envboard process is changing this project\n"
            on_wait = lambda: JobLog(record.log_path).append(waiting)  # noqa: E731
            with self.locks.hold(project.path, on_wait=on_wait, cancel=entry.cancel):
                outcome = self._sync_locked(project, entry)
            if outcome is not None and outcome.reload:  # the lock is free: nobody waits for the webserver
                self.reloads.ask(project, record)
        except WaitCancelled:  # Cancel, or a stopping server, while another process had the project
            if self._stopping:
                self._interrupt(record, self._stopping)
            else:
                message = "cancelled while waiting for the project's lock"
                self._finish_or_retry(record, CANCELLED, message=message)
        except sync.SyncRefused as exc:
            JobLog(record.log_path).append(f"\n[envboard] {exc}\n")
            self._finish_or_retry(record, FAILED, message=str(exc))
        except Exception as exc:  # noqa: BLE001 - a job's failure must be recorded, not lost
            log.exception("job %s failed", record.id)
            JobLog(record.log_path).append(f"\n[envboard] job failed: {exc}\n")
            self._finish_or_retry(record, FAILED, message=str(exc))
        finally:
            with self._lock:
                if self._active.get(project.id) is entry:
                    del self._active[project.id]
            entry.released.set()
            self._changed(project)

    @contextlib.contextmanager
    def _deciding(self, project: Project) -> Iterator[_Running | None]:
        """Hold the manager's lock with the project's queued or running job (None: none).

        A job whose end is recorded is not one, though its thread holds the project a moment
        longer (its lock, its place here): whoever saw it end and asks at once (a script that
        waited for it, a second click) gets the next job, not the ended one joined nor "queued
        or running". That moment is waited for without the lock (at most RELEASE_WAIT)."""
        deadline = time.monotonic() + RELEASE_WAIT
        while True:
            self._lock.acquire()
            running = self._active.get(project.id)
            if running is None or not self._ended(running) or time.monotonic() >= deadline:
                break
            self._lock.release()
            running.released.wait(max(0.0, deadline - time.monotonic()))
        try:
            yield running
        finally:
            self._lock.release()

    def _ended(self, entry: _Running) -> bool:
        """Whether the job's own thread recorded its end (then it lets go of the project at once).
        A queued job ended by a stopping or another server never runs, so it is not waited for."""
        if not entry.started.is_set():
            return False
        if entry.record.finished:
            return True
        try:  # the history says it first, the record in memory a moment later
            recorded = self.history.get(entry.record.id)
        except HistoryError:
            return False
        return recorded is not None and recorded.finished

    def prune_kept(self, project_id: str | None = None) -> list[str]:
        """Remove the kept files the retention no longer covers (one project's, or all at a
        start); returns the jobs pruned. A failure here costs disk space, never a job."""
        try:
            records = self.history.list(project_id, limit=-1, actions=KEEPING_ACTIONS)
            pruned = prune(records, self.retention)
            if pruned or project_id is None:  # only a prune (or a crash) leaves contents unlinked
                sweep(self.logs_dir / STORE)
        except (HistoryError, OSError):
            log.exception("pruning the kept files failed")
            return []
        return pruned

    def _sync_locked(self, project: Project, entry: _Running) -> sync.Outcome | None:
        record = entry.record
        prepared = sync.prepare(self.board, project.id, self.can_sync)
        # what the job may replace, kept beside its log: History can put it back byte for byte
        keep(record.log_path, sync.replaceable_files(prepared))
        started = time.time()
        record.status, record.started_at = RUNNING, started
        if not self.history.start(record.id, started_at=started, lock_before=prepared.lock_before):
            return None  # it was ended meanwhile (a stopping or restarted server): it must not run now
        with self.board.changing(project):  # no background look starts on a half-changed environment
            self._changed(project)
            outcome = (entry.work or sync.run_sync)(
                self.board,
                prepared,
                JobLog(record.log_path),
                record.id,
                cancel=entry.cancel,
                term_grace=self.term_grace,
                on_start=lambda pid: self.history.update(record.id, pid=pid),
            )
        # before the end is recorded: whoever sees the job ended sees the retention applied
        self.prune_kept(project.id)
        if outcome.cancelled and self._stopping:
            self._interrupt(record, self._stopping, exit_code=outcome.exit_code, duration=outcome.duration)
            return None
        self._finish_or_retry(
            record, outcome.status, exit_code=outcome.exit_code, duration=outcome.duration, **outcome.fields
        )
        return outcome
