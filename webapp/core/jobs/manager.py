"""Jobs: syncs and mode changes, queued, joined and recorded in the history.

A second request for a project that already has a queued or running sync joins that
job. Jobs on different projects run in parallel up to a limit; the rest wait in a
queue. Every job is recorded before it does anything, with a log file that is
streamed from disk, never held in memory. Sync and mode change of one project take
the same cross-process lock (`locks.ProjectLocks`), so neither the server and the
command line nor two servers ever overlap on a project.

This module is the queue and the record (start, join, cancel, look up, record a job and
its end). `JobManager` gathers the rest from one module each: a queued job on its pool
thread (`running.py`), the mode change (`mode_change.py`), load checks in the history
(`checks.py`), and recovery, stopping and retried endings (`stopping.py`).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ..environments.processes import Cancellation
from ..live.board import Board
from ..settings import TERM_GRACE
from ..workspace.dg import MODE_UV
from ..workspace.scan import Project
from . import sync
from .checks import CheckRecords
from .errors import JobError
from .history import History, HistoryError, JobRecord
from .kept import Retention
from .locks import ProjectLocks
from .log import JobLog
from .mode_change import ModeChanges
from .running import Runner, _Running
from .stopping import Stopping
from .telling import WebserverReloads

log = logging.getLogger("envboard.jobs")


@dataclass
class SyncAll:
    """What "sync all out of sync" did: started, joined the one under way, or could not start."""

    started: list[JobRecord] = field(default_factory=list)
    joined: list[JobRecord] = field(default_factory=list)
    refused: list[tuple[Project, str]] = field(default_factory=list)


class JobManager(Runner, ModeChanges, CheckRecords, Stopping):
    def __init__(
        self,
        board: Board,
        history: History,
        max_parallel: int = 2,
        term_grace: float = TERM_GRACE,
        retention: Retention = Retention(),  # noqa: B008 - frozen
    ) -> None:
        self.board = board
        self.retention = retention  # whose replaced files stay kept (kept.py)
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
        self.reloads = WebserverReloads(board, history, self._changed)  # asked after a job, never in it
        board.check_listeners.append(self.record_check)
        self._unrecorded: list[tuple[JobRecord, str, dict[str, Any]]] = []  # endings a full disk refused
        self._recorder: threading.Thread | None = None
        self._closed = threading.Event()

    @property
    def unavailable(self) -> str | None:
        """Why no job can be recorded now (read-only or missing state dir), or None."""
        return self.history.unavailable

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
        with self._deciding(project) as running:
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
        with self._deciding(project) as running:
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

    def _changed(self, project: Project) -> None:
        """A job of this project was queued, started or ended: pages and the monitor look again."""
        with self._lock:
            self.generation += 1
        self.board.mark_changed(project.path)

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
