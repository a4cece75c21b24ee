"""Jobs: syncs and mode changes, queued, joined and recorded in the history.

A second request for a project that already has a queued or running sync joins that
job. Jobs on different projects run in parallel up to a limit; the rest wait in a
queue. Every job is recorded before it does anything, with a log file that is
streamed from disk, never held in memory. Sync and mode change of one project take
the same cross-process lock (`locks.ProjectLocks`), so neither the server and the
command line nor two servers ever overlap on a project.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..environments.leftovers import TERM_GRACE, end_leftover_groups
from ..environments.processes import Cancellation
from ..live.board import Board
from ..probe.loadcheck import NOT_APPLICABLE, LoadCheck
from ..workspace import modes
from ..workspace.dg import MODE_UV
from ..workspace.scan import Project
from . import sync
from .history import CANCELLED, FAILED, INTERRUPTED, RUNNING, SUCCEEDED, History, HistoryError, JobRecord
from .kept import keep
from .locks import ProjectBusy, ProjectLocks, WaitCancelled
from .log import JobLog

log = logging.getLogger("envboard.jobs")
RECORD_RETRY = 1.0  # seconds between tries to record a job's end that a full disk refused


class JobError(Exception):
    """A job cannot be started; the message says why."""


@dataclass
class SyncAll:
    """What "sync all out of sync" did: started, joined the one under way, or could not start."""

    started: list[JobRecord] = field(default_factory=list)
    joined: list[JobRecord] = field(default_factory=list)
    refused: list[tuple[Project, str]] = field(default_factory=list)


@dataclass
class _Running:
    record: JobRecord
    cancel: Cancellation
    work: Callable[..., sync.Outcome] | None = None  # what the job runs, like `sync.run_sync`; None: a sync


class JobManager:
    def __init__(
        self,
        board: Board,
        history: History,
        max_parallel: int = 2,
        term_grace: float = TERM_GRACE,
    ) -> None:
        self.board = board
        self.history = history
        self.logs_dir = history.state_dir / "logs"
        self.locks = ProjectLocks(history.state_dir / "locks")
        self.term_grace = term_grace
        with contextlib.suppress(OSError):  # a read-only state dir: `unavailable` says why
            self.logs_dir.mkdir(parents=True, exist_ok=True)
        self.max_parallel = max_parallel
        self._pool = ThreadPoolExecutor(max_workers=max_parallel, thread_name_prefix="job")
        self._active: dict[str, _Running] = {}  # project id -> its queued or running sync
        self._lock = threading.Lock()
        self.generation = 0  # grows whenever a job is queued, starts or ends (pollers compare it)
        self._stopping: str | None = None  # set when the server stops: cancelled jobs are interrupted
        self.finish_listeners: list[Callable[[JobRecord], None]] = []  # told when a job has ended
        board.check_listeners.append(self.record_check)
        self._unrecorded: list[tuple[JobRecord, str, dict[str, Any]]] = []  # endings a full disk refused
        self._recorder: threading.Thread | None = None
        self._closed = threading.Event()

    @property
    def unavailable(self) -> str | None:
        """Why no job can be recorded now (read-only or missing state dir), or None."""
        return self.history.unavailable

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

    # -- starting, joining, cancelling ----------------------------------------------------------

    def can_sync(self, project: Project) -> str | None:
        """Why a sync is not possible for this project, or None."""
        if self.unavailable:
            return self.unavailable
        if project.error:
            return "the project's config has an error"
        reading = project.reading
        if reading is not None and reading.python is not None:
            return (
                f"{reading.dg.label} runs this project with {reading.python}, named by "
                "DG_PROJECT_PYTHON_EXECUTABLE in its .env; envboard does not manage that environment"
            )
        if project.mode is None or project.mode.mode != MODE_UV:
            return (
                "envboard does not manage the active environment; switch the mode to "
                "persistent_uv to let uv manage a .venv"
            )
        if self.board.uv.path is None:
            return self.board.uv.reason
        return None

    def sync(self, project: Project, who: str, *, confirm_shared: bool = False) -> tuple[JobRecord, bool]:
        """Queue a sync, or join the one already queued or running. Returns (job, joined).

        A project whose environment other projects run in too is synced only when the caller
        confirms it: the sync removes what they installed and its own lock does not ask for.
        """
        problem = self.can_sync(project)
        if problem:
            raise JobError(problem)
        others = self.board.shared_with(project)
        if others and not confirm_shared:
            names = ", ".join(p.name for p in others)
            raise JobError(
                f"{project.name}'s environment is shared with {names}: a sync makes it match "
                f"{project.name}'s lock and removes what they need and it does not. Confirm to sync anyway"
            )
        with self._lock:
            running = self._active.get(project.id)
            if running is not None:
                return running.record, True
            record = self._record(project, "sync", who)
            entry = _Running(record, Cancellation())
            self._active[project.id] = entry
        log.info("job=%s action=sync project=%s who=%s status=queued", record.id, project.id, who)
        self._changed(project)
        self._pool.submit(self._run_sync, project, entry)
        return record, False

    def start(
        self,
        project: Project,
        action: str,
        who: str,
        work: Callable[..., sync.Outcome],
        detail: dict[str, Any],
    ) -> JobRecord:
        """Queue another kind of job (an upgrade, a rollback) that changes the project like a sync.

        `work` is called as `sync.run_sync` is, under the project's lock, after the files it may
        replace were kept; a job already queued or running for the project refuses it.
        """
        problem = self.can_sync(project)
        if problem:
            raise JobError(problem)
        with self._lock:
            running = self._active.get(project.id)
            if running is not None:
                raise JobError(
                    f"a {running.record.action} of {project.name} is queued or running; "
                    "try again when it has ended"
                )
            record = self._record(project, action, who, detail=detail)
            entry = _Running(record, Cancellation(), work)
            self._active[project.id] = entry
        log.info("job=%s action=%s project=%s who=%s status=queued", record.id, action, project.id, who)
        self._changed(project)
        self._pool.submit(self._run_sync, project, entry)
        return record

    def sync_out_of_sync(self, projects: list[Project], who: str) -> SyncAll:
        """A sync for each of these projects that can have one (the overview's "Sync all")."""
        outcome = SyncAll()
        for project in projects:
            problem = self.can_sync(project)
            if problem is not None:
                outcome.refused.append((project, problem))
                continue
            try:
                record, joined = self.sync(project, who)
            except JobError as exc:  # e.g. the history cannot record it: say so, go on
                outcome.refused.append((project, str(exc)))
                continue
            (outcome.joined if joined else outcome.started).append(record)
        return outcome

    def _record(self, project: Project, action: str, who: str, **fields: Any) -> JobRecord:
        """A new history entry with its log file; nothing is done before this succeeds."""
        try:
            self.logs_dir.mkdir(parents=True, exist_ok=True)
            record = self.history.new_job(project.id, str(project.path), action, who, **fields)
            record.log_path = str(self.logs_dir / f"{record.id}.log")
            JobLog(record.log_path).create()
            self.history.update(record.id, log_path=record.log_path)
        except (HistoryError, OSError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            raise JobError(f"cannot record the job in {self.history.state_dir}: {reason}") from exc
        return record

    def cancel(self, job_id: str, who: str) -> JobRecord | None:
        with self._lock:
            entry = next((e for e in self._active.values() if e.record.id == job_id), None)
        if entry is None:
            return self.get(job_id)
        JobLog(entry.record.log_path).append(f"\n[envboard] cancel requested by {who}\n")
        entry.cancel.cancel()
        return entry.record

    def get(self, job_id: str) -> JobRecord | None:
        return self.history.get(job_id)

    def active_jobs(self) -> dict[str, JobRecord]:
        """Every queued or running sync, by project id (a copy)."""
        with self._lock:
            return {project_id: entry.record for project_id, entry in self._active.items()}

    def active_job(self, project_id: str) -> JobRecord | None:
        with self._lock:
            entry = self._active.get(project_id)
        return entry.record if entry else None

    def queued_behind(self, job_id: str) -> list[JobRecord]:
        """The syncs that take every slot ahead of this queued one (it starts when one ends);
        [] when it can start at once or has started."""
        with self._lock:
            entries = list(self._active.values())  # insertion order is queue order
        ahead = []
        for entry in entries:
            if entry.record.id == job_id:
                return ahead if len(ahead) >= self.max_parallel else []
            ahead.append(entry.record)
        return []

    def wait(self, job_id: str, timeout: float | None = None) -> JobRecord | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while deadline is None or time.monotonic() < deadline:
            record = self.get(job_id)
            if record is None or record.finished:
                return record
            time.sleep(0.05)
        return self.get(job_id)

    # -- definitions load checks ------------------------------------------------------------------

    def check(self, project: Project, who: str):
        """Check now whether the project loads, in the background (joins a check under way).

        Returns the check's Future, or None when there is nothing to check (a config error);
        the history records the check when it has run (`record_check`).
        """
        env = self.board.resolve(project)
        if env is None:
            raise JobError("the project's config has an error: there is nothing to load")
        return self.board.submit_check(project, env, who)

    def record_check(self, project: Project, verdict: LoadCheck, who: str) -> JobRecord | None:
        """One history entry per check that ran (who, when, verdict, duration), its output as the log."""
        if verdict.status == NOT_APPLICABLE or self.unavailable:
            return None
        started = verdict.checked_at or time.time()
        detail = {"load_check": {k: v for k, v in verdict.to_json().items() if k not in ("output", "keys")}}
        try:
            record = self._record(project, "check", who, status=RUNNING, started_at=started, detail=detail)
            JobLog(record.log_path).append(f"$ {verdict.command}\n{verdict.output}")
            status = SUCCEEDED if verdict.loads else FAILED
            message = "loads" if verdict.loads else (verdict.error or {}).get("message")
            self._finish(record, status, message=message, duration=verdict.duration, detail=detail)
        except (JobError, HistoryError, OSError):
            log.exception("the load check of %s could not be recorded", project.id)
            return None
        self._changed(project)
        return record

    # -- mode change ----------------------------------------------------------------------------

    def change_mode(
        self, change: modes.ModeChange, expected_hash: str, project: Project, who: str
    ) -> JobRecord:
        """Record first, then write under the project's lock; a sync in progress refuses it."""
        if self.unavailable:
            raise JobError(self.unavailable)
        busy = (
            f"another change to {project.name} is in progress (a sync or a mode change); "
            "try again when it has ended"
        )
        if self.active_job(project.id) is not None:
            raise JobError(busy)
        detail = {"from": change.current_mode, "to": change.target_mode, "diff": change.diff}
        record = self._record(project, "mode", who, status=RUNNING, started_at=time.time(), detail=detail)
        JobLog(record.log_path).append(change.diff)
        try:
            with self.locks.hold(project.path, timeout=0):
                modes.apply(change, expected_hash)
        except ProjectBusy:
            self._finish(record, FAILED, message=busy, exit_code=1)
            raise JobError(busy) from None
        except modes.ModeChangeError as exc:
            self._finish(record, FAILED, message=str(exc), exit_code=1)
            raise
        try:
            message = f"mode {change.current_mode} -> {change.target_mode}"
            self._finish(record, SUCCEEDED, message=message, exit_code=0)
        except HistoryError:  # the file is written: say so, and that the record could not be finished
            log.exception("job=%s: the mode was written but its record could not be finished", record.id)
        self._changed(project)
        return record

    def _changed(self, project: Project) -> None:
        """A job of this project was queued, started or ended: pages and the monitor look again."""
        with self._lock:
            self.generation += 1
        self.board.mark_changed(project.path)

    # -- running --------------------------------------------------------------------------------

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
                self._sync_locked(project, entry)
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
            self._changed(project)

    def _sync_locked(self, project: Project, entry: _Running) -> None:
        record = entry.record
        prepared = sync.prepare(self.board, project.id, self.can_sync)
        # what the job may replace, kept beside its log: History can put it back byte for byte
        keep(record.log_path, sync.replaceable_files(prepared))
        started = time.time()
        record.status, record.started_at = RUNNING, started
        if not self.history.start(record.id, started_at=started, lock_before=prepared.lock_before):
            return  # it was ended meanwhile (a stopping or restarted server): it must not run now
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
        if outcome.cancelled and self._stopping:
            self._interrupt(record, self._stopping, exit_code=outcome.exit_code, duration=outcome.duration)
            return
        self._finish_or_retry(
            record, outcome.status, exit_code=outcome.exit_code, duration=outcome.duration, **outcome.fields
        )

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

    def _finish(self, record: JobRecord, status: str, **fields: Any) -> bool:
        """Record how the job ended, once (a stopping server and the job itself may both try)."""
        ended_at = time.time()
        if not self.history.finish(record.id, status=status, ended_at=ended_at, **fields):
            return False
        log.info(
            "job=%s action=%s project=%s status=%s exit=%s",
            record.id,
            record.action,
            record.project_id,
            status,
            fields.get("exit_code"),
        )
        record.status = status
        record.ended_at = ended_at
        for name, value in fields.items():
            if hasattr(record, name):
                setattr(record, name, value)
        if record.duration is None and record.started_at is not None:
            record.duration = record.ended_at - record.started_at
        for listener in self.finish_listeners:
            try:
                listener(record)
            except Exception:  # noqa: BLE001 - a listener (metrics) must never fail a job
                log.exception("job listener failed")
        return True

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
