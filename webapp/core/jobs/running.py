"""A queued job on its pool thread: the project's lock, the kept files, the work, the end.

Apart from the queue (`manager.py` decides *when* a job runs) and from the work itself
(`sync.run_sync`, an upgrade's or a rollback's): this is what every such job does around
its work, in order. It waits for the project's lock (a cancel ends the wait), keeps the
files the work may replace, marks the job started unless it was ended meanwhile, runs
the work, prunes the kept files the retention no longer covers (`kept.prune`),
records how it ended (`interrupted` when the server is stopping), frees the lock, and
only then has the Dagster webserver asked to reload (`telling.py`), if the work says so.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ..environments.processes import Cancellation
from ..workspace.scan import Project
from . import sync
from .history import CANCELLED, FAILED, RUNNING, HistoryError, JobRecord
from .kept import KEEPING_ACTIONS, STORE, keep, prune, sweep
from .locks import WaitCancelled
from .log import JobLog

log = logging.getLogger("envboard.jobs")


@dataclass
class _Running:
    record: JobRecord
    cancel: Cancellation
    work: Callable[..., sync.Outcome] | None = None  # what the job runs, like `sync.run_sync`; None: a sync
    # set when the job's thread has let go of the project (its lock released, its entry removed):
    # its end is recorded a moment before that
    released: threading.Event = field(default_factory=threading.Event)


class Runner:
    """Runs a queued job; mixed into `JobManager`, whose queue, lock, history and endings it uses."""

    def _run_sync(self, project: Project, entry: _Running) -> None:
        record = entry.record
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
