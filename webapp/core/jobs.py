"""Jobs: syncs that run through the shared launcher, one per project at a time.

A second request for a project that already has a queued or running sync joins that
job. Jobs on different projects run in parallel up to a limit; the rest wait in a
queue. Every job is recorded in the history with its log file, which is streamed
from disk, never held in memory. A file lock per project keeps two envboard
processes (the server and the command line) from syncing one project at once.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import signal
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .board import Board
from .history import (
    CANCELLED,
    FAILED,
    INTERRUPTED,
    RUNNING,
    SUCCEEDED,
    History,
    HistoryError,
    JobRecord,
)
from .launcher import JOB_MARKER, Cancellation, run
from .plugins import PluginList, lock_hash
from .workspace import Project

SYNC_TIMEOUT = 3600.0
log = logging.getLogger("envboard.jobs")


class JobError(Exception):
    """A job cannot be started; the message says why."""


@dataclass
class _Running:
    record: JobRecord
    cancel: Cancellation


class JobManager:
    def __init__(
        self,
        board: Board,
        state_dir: Path,
        max_parallel: int = 2,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.board = board
        self.logs_dir = state_dir / "logs"
        self.locks_dir = state_dir / "locks"
        self.history: History | None = None
        self.unavailable: str | None = None
        try:
            self.history = History(state_dir / "envboard.sqlite3", board.workspace.root)
            self.logs_dir.mkdir(parents=True, exist_ok=True)
            self.locks_dir.mkdir(parents=True, exist_ok=True)
        except (HistoryError, OSError) as exc:
            self.unavailable = f"actions are unavailable: the state dir {state_dir} is not writable ({exc})"
        self._pool = ThreadPoolExecutor(max_workers=max_parallel, thread_name_prefix="job")
        self._active: dict[str, _Running] = {}  # project id -> its queued or running job
        self._lock = threading.Lock()
        self._on_change = on_change or (lambda: None)

    # -- recovery ---------------------------------------------------------------------------

    def recover(self) -> list[str]:
        """Jobs the history says are running but whose process is gone become `interrupted`."""
        if self.history is None:
            return []
        recovered = []
        for record in self.history.unfinished():
            if _lock_is_held(self.locks_dir, record.project_path):
                continue  # another live envboard process (the command line) owns this job
            if record.pid and _is_our_job(record.pid, record.id):
                _kill_leftover(record.pid)
            self.history.update(
                record.id,
                status=INTERRUPTED,
                ended_at=time.time(),
                message="envboard stopped while this job was running; its log is kept up to that point",
            )
            _append(record.log_path, "\n[envboard] interrupted: the server stopped during this job\n")
            recovered.append(record.id)
        return recovered

    # -- starting, joining, cancelling ----------------------------------------------------------

    def can_sync(self, project: Project) -> str | None:
        """Why a sync is not possible for this project, or None."""
        if self.unavailable:
            return self.unavailable
        if project.error:
            return "the project's config has an error"
        if project.mode is None or project.mode.mode != "persistent_uv":
            return (
                "envboard does not manage the active environment; switch the mode to "
                "persistent_uv to let uv manage a .venv"
            )
        if self.board.uv.path is None:
            return self.board.uv.reason
        return None

    def sync(self, project: Project, who: str) -> tuple[JobRecord, bool]:
        """Queue a sync, or join the one already queued or running. Returns (job, joined)."""
        problem = self.can_sync(project)
        if problem:
            raise JobError(problem)
        assert self.history is not None
        with self._lock:
            running = self._active.get(project.id)
            if running is not None:
                return running.record, True
            try:
                record = self.history.new_job(project.id, str(project.path), "sync", who)
                record.log_path = str(self.logs_dir / f"{record.id}.log")
                Path(record.log_path).touch()
                self.history.update(record.id, log_path=record.log_path)
            except (HistoryError, OSError, sqlite3.Error) as exc:
                reason = getattr(exc, "strerror", None) or str(exc)
                raise JobError(f"cannot record the job in {self.logs_dir.parent}: {reason}") from exc
            entry = _Running(record, Cancellation())
            self._active[project.id] = entry
        log.info("job=%s action=sync project=%s who=%s status=queued", record.id, project.id, who)
        self._on_change()
        self._pool.submit(self._run_sync, project, entry)
        return record, False

    def cancel(self, job_id: str, who: str) -> JobRecord | None:
        with self._lock:
            entry = next((e for e in self._active.values() if e.record.id == job_id), None)
        if entry is None:
            return self.get(job_id)
        _append(entry.record.log_path, f"\n[envboard] cancel requested by {who}\n")
        entry.cancel.cancel()
        return entry.record

    def get(self, job_id: str) -> JobRecord | None:
        return self.history.get(job_id) if self.history else None

    def list(self, project_id: str | None = None, limit: int = 200) -> list[JobRecord]:
        return self.history.list(project_id, limit) if self.history else []

    def active_job(self, project_id: str) -> JobRecord | None:
        with self._lock:
            entry = self._active.get(project_id)
        return entry.record if entry else None

    def wait(self, job_id: str, timeout: float | None = None) -> JobRecord | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while deadline is None or time.monotonic() < deadline:
            record = self.get(job_id)
            if record is None or record.finished:
                return record
            time.sleep(0.05)
        return self.get(job_id)

    # -- running ------------------------------------------------------------------------------

    def _run_sync(self, project: Project, entry: _Running) -> None:
        record = entry.record
        assert self.history is not None
        try:
            if entry.cancel.requested:
                self._finish(record, CANCELLED, message="cancelled before it started")
                return
            with _project_lock(self.locks_dir, project, record.log_path):
                self._sync_locked(project, entry)
        except Exception as exc:  # noqa: BLE001 - a job's failure must be recorded, not lost
            log.exception("job %s failed", record.id)
            _append(record.log_path, f"\n[envboard] job failed: {exc}\n")
            with contextlib.suppress(HistoryError):  # a full disk may refuse even this
                self._finish(record, FAILED, message=str(exc))
        finally:
            with self._lock:
                if self._active.get(project.id) is entry:
                    del self._active[project.id]
            self._on_change()

    def _sync_locked(self, project: Project, entry: _Running) -> None:
        record = entry.record
        env = self.board.resolve(project)
        assert env is not None and self.history is not None
        before = self.board.probe.last_known(project, env)
        lock_before = lock_hash(project, env)
        started = time.time()
        record.status, record.started_at = RUNNING, started
        self.history.update(record.id, status=RUNNING, started_at=started, lock_before=lock_before)
        self._on_change()
        invocation = self.board.resolver.uv_invocation(project.path, ["sync", "--color", "always"])
        invocation = type(invocation)(
            invocation.argv, invocation.cwd, {**invocation.env, JOB_MARKER: record.id}
        )
        with open(record.log_path, "ab") as log:
            log.write(f"$ {invocation.display()}\n".encode())
            log.flush()
            result = run(
                invocation,
                sink=log,
                cancel=entry.cancel,
                timeout=SYNC_TIMEOUT,
                on_start=lambda pid: self.history.update(record.id, pid=pid),
            )
            if result.error and not result.cancelled:
                log.write(f"\n[envboard] {result.error}\n".encode())
        if result.cancelled:
            status, message = CANCELLED, "cancelled"
        elif result.ok:
            status, message = SUCCEEDED, None
        else:
            status = FAILED
            message = result.error or failure_message(result.exit_code, record.log_path)
        detail: dict[str, Any] = {}
        if status == SUCCEEDED and env.exists:
            after = self.board.probe.probe(project, env)
            detail["plugin_diff"] = plugin_diff(before, after)
        self.board.check_status(project, env)
        self._finish(
            record,
            status,
            exit_code=result.exit_code,
            duration=result.duration,
            lock_after=lock_hash(project, env),
            message=message,
            detail=detail,
        )

    def _finish(self, record: JobRecord, status: str, **fields: Any) -> None:
        assert self.history is not None
        log.info(
            "job=%s action=%s project=%s status=%s exit=%s",
            record.id,
            record.action,
            record.project_id,
            status,
            fields.get("exit_code"),
        )
        record.status = status
        self.history.update(record.id, status=status, ended_at=time.time(), **fields)

    def record_mode_change(self, project: Project, who: str, old: str, new: str, diff: str) -> JobRecord:
        """Mode changes go into the same history as jobs."""
        if self.history is None:
            raise JobError(self.unavailable or "no history")
        record = self.history.new_job(
            project.id,
            str(project.path),
            "mode",
            who,
            status=SUCCEEDED,
            detail={"from": old, "to": new, "diff": diff},
            message=f"mode {old} -> {new}",
        )
        self.history.update(record.id, started_at=record.queued_at, ended_at=time.time(), exit_code=0)
        return record

    def close(self) -> None:
        with self._lock:
            for entry in self._active.values():
                entry.cancel.cancel()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def interrupt_all(self, reason: str, timeout: float = 2.0) -> list[str]:
        """End every queued and running job for a server that is stopping; each is `interrupted`.

        The launcher TERMs each job's process group (and KILLs what is left of it); a group
        that has not gone after half the timeout is KILLed from here, so the whole stop takes
        `timeout` at most. Returns the ids of the jobs interrupted.
        """
        with self._lock:
            entries = list(self._active.values())
        for entry in entries:
            entry.cancel.cancel()
        # the workers record `cancelled` and leave; queued jobs never start
        waiter = threading.Thread(
            target=self._pool.shutdown, kwargs={"wait": True, "cancel_futures": True}, daemon=True
        )
        waiter.start()
        waiter.join(timeout / 2)
        if waiter.is_alive():
            for entry in entries:
                record = self.get(entry.record.id)
                if record and record.pid and _is_our_job(record.pid, record.id):
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.killpg(record.pid, signal.SIGKILL)
            waiter.join(timeout / 2)
        interrupted = []
        for entry in entries:
            _append(entry.record.log_path, f"\n[envboard] interrupted: {reason}\n")
            try:
                if self.history is not None:
                    self.history.update(
                        entry.record.id,
                        status=INTERRUPTED,
                        ended_at=time.time(),
                        message=f"interrupted: {reason}; the log is kept up to that point",
                    )
            except (HistoryError, sqlite3.Error) as exc:
                log.warning("job=%s could not be recorded as interrupted: %s", entry.record.id, exc)
                continue
            log.info("job=%s action=%s status=interrupted", entry.record.id, entry.record.action)
            interrupted.append(entry.record.id)
        return interrupted


def failure_message(exit_code: int | None, log_path: str | None) -> str:
    """What went wrong in words: uv's own error line, or how the process ended."""
    if exit_code is not None and exit_code < 0:
        try:
            name = f" ({signal.Signals(-exit_code).name})"
        except ValueError:
            name = ""
        return f"uv was killed by signal {-exit_code}{name} before it finished"
    lines = [line.strip() for line in _strip_ansi(_tail(log_path)).splitlines()]
    errors = [line for line in lines if line.startswith("error:")]
    if errors:
        details = [line for line in lines[lines.index(errors[-1]) + 1 :] if line][:3]
        return " ".join([errors[-1], *details])[:600]
    return f"uv sync exited {exit_code}"


def _tail(path: str | None, size: int = 16384) -> str:
    if not path:
        return ""
    try:
        with open(path, "rb") as handle:
            handle.seek(max(0, os.path.getsize(path) - size))
            return handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


def _strip_ansi(text: str) -> str:
    import re

    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)


def plugin_diff(before: PluginList | None, after: PluginList) -> dict[str, list]:
    """Modules and components added, removed or changed by a sync."""
    if before is None or before.failure or after.failure:
        return {"unknown": ["no earlier plugin list to compare with"]} if before is None else {}
    old_modules = {m["module"] for m in before.registry_modules}
    new_modules = {m["module"] for m in after.registry_modules}
    old_components = {c["key"]: c.get("summary") for c in before.components}
    new_components = {c["key"]: c.get("summary") for c in after.components}
    return {
        "modules_added": sorted(new_modules - old_modules),
        "modules_removed": sorted(old_modules - new_modules),
        "components_added": sorted(set(new_components) - set(old_components)),
        "components_removed": sorted(set(old_components) - set(new_components)),
        "components_changed": sorted(
            k for k in set(old_components) & set(new_components) if old_components[k] != new_components[k]
        ),
    }


def _lock_path(folder: Path, project_path: str) -> Path:
    return folder / f"{hashlib.sha256(project_path.encode()).hexdigest()[:24]}.lock"


def _lock_is_held(folder: Path, project_path: str) -> bool:
    try:
        with open(_lock_path(folder, project_path), "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(handle, fcntl.LOCK_UN)
    except BlockingIOError:
        return True
    except OSError:
        return False
    return False


class _project_lock:
    """An exclusive file lock per project, shared by every envboard process on the box."""

    def __init__(self, folder: Path, project: Project, log_path: str | None) -> None:
        self.path = _lock_path(folder, str(project.path))
        self.log_path = log_path
        self.handle = None

    def __enter__(self):
        self.handle = open(self.path, "w")  # noqa: SIM115 - held for the job's lifetime
        try:
            fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            _append(self.log_path, "[envboard] waiting: another envboard process is syncing this project\n")
            fcntl.flock(self.handle, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc) -> None:
        fcntl.flock(self.handle, fcntl.LOCK_UN)
        self.handle.close()


def _append(path: str | None, text: str) -> None:
    if not path:
        return
    try:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(text)
    except OSError:
        pass


def _is_our_job(pid: int, job_id: str) -> bool:
    """Only a process that carries this job's marker may be killed (pids are reused)."""
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return False
    return f"{JOB_MARKER}={job_id}".encode() in environ.split(b"\0")


def _kill_leftover(pgid: int) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pgid, sig)
        except (ProcessLookupError, PermissionError):
            return
        time.sleep(1.0)
