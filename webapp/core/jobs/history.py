"""The record of every job and mode change, in SQLite in the state dir."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..disk.private import private_file
from ..disk.sqlite import ThreadConnections
from ..disk.times import iso

QUEUED, RUNNING = "queued", "running"
SUCCEEDED, FAILED, CANCELLED, INTERRUPTED = "succeeded", "failed", "cancelled", "interrupted"
ACTIVE_STATUSES = (QUEUED, RUNNING)

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    workspace TEXT NOT NULL,
    project_id TEXT NOT NULL,
    project_path TEXT NOT NULL,
    action TEXT NOT NULL,
    who TEXT NOT NULL,
    status TEXT NOT NULL,
    queued_at REAL NOT NULL,
    started_at REAL,
    ended_at REAL,
    exit_code INTEGER,
    duration REAL,
    lock_before TEXT,
    lock_after TEXT,
    log_path TEXT,
    pid INTEGER,
    message TEXT,
    detail TEXT
);
CREATE INDEX IF NOT EXISTS jobs_by_project ON jobs (workspace, project_id, queued_at);
"""


@dataclass
class JobRecord:
    id: str
    workspace: str
    project_id: str
    project_path: str
    action: str
    who: str
    status: str
    queued_at: float
    started_at: float | None = None
    ended_at: float | None = None
    exit_code: int | None = None
    duration: float | None = None
    lock_before: str | None = None
    lock_after: str | None = None
    log_path: str | None = None
    pid: int | None = None
    message: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        return self.status not in ACTIVE_STATUSES

    def to_json(self) -> dict[str, Any]:
        """Every field but the pid; each epoch time has an ISO 8601 twin (`queued_at_iso`, ...)."""
        data = dict(self.__dict__)
        data.pop("pid")
        for name in ("queued_at", "started_at", "ended_at"):
            data[f"{name}_iso"] = iso(data[name])
        return data


class HistoryError(Exception):
    """The history database cannot be used (read-only or full state dir, ...)."""


READY_ROOM = 64 * 1024


class History:
    """The jobs table of one workspace. Never raises on construction: a state dir that
    cannot be used makes `unavailable` say why, and each later call tries again (a dir
    that was removed, or a database that lost its table, is recreated)."""

    def __init__(self, state_dir: Path, workspace: Path) -> None:
        self.state_dir = state_dir
        self.path = state_dir / "envboard.sqlite3"
        self.workspace = str(workspace)
        self.unavailable: str | None = None
        self._connections = ThreadConnections(self.path, _set_up, timeout=30)
        self._ensure_schema()

    def _ensure_schema(self) -> None:
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            with self._open() as db:
                db.executescript(SCHEMA)
            private_file(self.path)
            self.unavailable = None
        except (OSError, sqlite3.Error) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            self.unavailable = (
                f"actions are unavailable: the state dir {self.state_dir} is not writable ({reason})"
            )

    @contextmanager
    def _open(self):
        """This thread's connection; one that failed is closed, so the next call opens anew."""
        try:
            yield self._connections.get()
        except sqlite3.Error:
            self._connections.forget()
            raise

    def health(self) -> str | None:
        """Why the history cannot record a job right now (full state dir, corrupt database), or None.

        For /readyz: `os.access` says yes to a full disk, and a corrupt file is found only when
        a job is recorded, so both are tried for real (a write with fsync, SQLite's quick_check).
        """
        probe = self.state_dir / f".readyz-{os.getpid()}-{threading.get_ident()}"
        try:
            with open(probe, "wb") as handle:
                handle.write(b"\0" * READY_ROOM)  # room for a job's record and the start of its log
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            return f"the state dir {self.state_dir} cannot be written: {exc.strerror or exc}"
        finally:
            with contextlib.suppress(OSError):
                probe.unlink()
        try:  # a connection of its own: a thread's open one may not see what happened to the file
            db = sqlite3.connect(self.path, timeout=5)
            try:
                verdict = db.execute("PRAGMA quick_check").fetchone()[0]
            finally:
                db.close()
        except sqlite3.Error as exc:
            return f"the history database {self.path} cannot be used: {exc}"
        if verdict != "ok":
            return f"the history database {self.path} is damaged: {verdict}"
        return None

    def _run(self, work, what: str):
        """Run `work(db)`; a lost table or folder is recreated once, anything else is HistoryError."""
        for attempt in (1, 2):
            try:
                with self._open() as db:
                    return work(db)
            except sqlite3.Error as exc:
                if attempt == 1 and _recoverable(exc):
                    self._ensure_schema()
                    continue
                raise HistoryError(f"{what}: {exc}") from exc
        raise AssertionError("unreachable")

    def new_job(self, project_id: str, project_path: str, action: str, who: str, **fields: Any) -> JobRecord:
        record = JobRecord(
            id=uuid.uuid4().hex[:12],
            workspace=self.workspace,
            project_id=project_id,
            project_path=project_path,
            action=action,
            who=who,
            status=fields.pop("status", QUEUED),
            queued_at=time.time(),
            **fields,
        )
        columns = dict(record.__dict__)
        columns["detail"] = json.dumps(record.detail)
        names = ", ".join(columns)
        marks = ", ".join("?" for _ in columns)
        insert = f"INSERT INTO jobs ({names}) VALUES ({marks})"  # noqa: S608 - names are our own columns
        self._run(lambda db: db.execute(insert, list(columns.values())), "cannot record the job")
        return record

    def update(self, job_id: str, **fields: Any) -> None:
        if "detail" in fields:
            fields["detail"] = json.dumps(fields["detail"])
        assignments = ", ".join(f"{name} = ?" for name in fields)
        statement = f"UPDATE jobs SET {assignments} WHERE id = ?"  # noqa: S608 - names are our own columns
        self._run(lambda db: db.execute(statement, [*fields.values(), job_id]), f"cannot update job {job_id}")

    def start(self, job_id: str, **fields: Any) -> bool:
        """Mark a queued job running: False when it is no longer queued (ended meanwhile)."""
        assignments = ", ".join(f"{name} = ?" for name in ("status", *fields))
        statement = f"UPDATE jobs SET {assignments} WHERE id = ? AND status = ?"  # noqa: S608 - our columns
        cursor = self._run(
            lambda db: db.execute(statement, [RUNNING, *fields.values(), job_id, QUEUED]),
            f"cannot update job {job_id}",
        )
        return cursor.rowcount == 1

    def finish(self, job_id: str, **fields: Any) -> bool:
        """Record how a job ended, once: False when it had already ended (nothing is written)."""
        if "detail" in fields:
            fields["detail"] = json.dumps(fields["detail"])
        assignments = ", ".join(f"{name} = ?" for name in fields)
        statement = f"UPDATE jobs SET {assignments} WHERE id = ? AND status IN (?, ?)"  # noqa: S608 - our columns
        cursor = self._run(
            lambda db: db.execute(statement, [*fields.values(), job_id, *ACTIVE_STATUSES]),
            f"cannot update job {job_id}",
        )
        return cursor.rowcount == 1

    def get(self, job_id: str) -> JobRecord | None:
        row = self._run(
            lambda db: db.execute(
                "SELECT * FROM jobs WHERE id = ? AND workspace = ?", (job_id, self.workspace)
            ).fetchone(),
            "cannot read the history",
        )
        return _record(row) if row else None

    def list(
        self,
        project_id: str | None = None,
        who: str | None = None,
        limit: int = 200,
        actions: tuple[str, ...] = (),
    ) -> list[JobRecord]:
        """Newest first; optionally one project's, one person's, or of these actions (limit -1: all)."""
        query = "SELECT * FROM jobs WHERE workspace = ?"
        args: list[Any] = [self.workspace]
        if actions:
            query += f" AND action IN ({', '.join('?' * len(actions))})"
            args += actions
        if project_id is not None:
            query += " AND project_id = ?"
            args.append(project_id)
        if who is not None:
            query += " AND who = ?"
            args.append(who)
        query += " ORDER BY queued_at DESC LIMIT ?"
        args.append(limit)
        rows = self._run(lambda db: db.execute(query, args).fetchall(), "cannot read the history")
        return [_record(row) for row in rows]

    def people(self) -> list[str]:
        """Everyone who did something in this workspace, for the history's filter."""
        rows = self._run(
            lambda db: db.execute(
                "SELECT DISTINCT who FROM jobs WHERE workspace = ? ORDER BY who", (self.workspace,)
            ).fetchall(),
            "cannot read the history",
        )
        return [row["who"] for row in rows]

    def last_successes(self, action: str) -> dict[str, float]:
        """When each project's last `action` job succeeded (project id -> end time)."""
        rows = self._run(
            lambda db: db.execute(
                "SELECT project_id, MAX(ended_at) FROM jobs WHERE workspace = ? AND action = ? "
                "AND status = ? AND ended_at IS NOT NULL GROUP BY project_id",
                (self.workspace, action, SUCCEEDED),
            ).fetchall(),
            "cannot read the history",
        )
        return {row[0]: row[1] for row in rows}

    def unfinished(self) -> list[JobRecord]:
        rows = self._run(
            lambda db: db.execute(
                "SELECT * FROM jobs WHERE workspace = ? AND status IN (?, ?)",
                (self.workspace, *ACTIVE_STATUSES),
            ).fetchall(),
            "cannot read the history",
        )
        return [_record(row) for row in rows]


def _recoverable(exc: sqlite3.Error) -> bool:
    """The state dir or the table went away under a running server: recreate and retry."""
    text = str(exc)
    return "no such table" in text or "unable to open database" in text


def _record(row: sqlite3.Row) -> JobRecord:
    data = dict(row)
    data["detail"] = json.loads(data["detail"] or "{}")
    return JobRecord(**data)


def _set_up(db: sqlite3.Connection) -> None:
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA journal_mode=WAL")
