"""The record of every job and mode change, in SQLite in the state dir."""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
        data = dict(self.__dict__)
        data.pop("pid")
        return data


class HistoryError(Exception):
    """The history database cannot be used (read-only or full state dir, ...)."""


class History:
    def __init__(self, path: Path, workspace: Path) -> None:
        self.path = path
        self.workspace = str(workspace)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with self._connect() as db:
                db.executescript(SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise HistoryError(f"cannot use the history at {path}: {exc}") from exc

    @contextmanager
    def _connect(self):
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.row_factory = sqlite3.Row
        try:
            db.execute("PRAGMA journal_mode=WAL")
            yield db
        finally:
            db.close()

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
        try:
            with self._connect() as db:
                db.execute(f"INSERT INTO jobs ({names}) VALUES ({marks})", list(columns.values()))  # noqa: S608
        except sqlite3.Error as exc:
            raise HistoryError(f"cannot record the job: {exc}") from exc
        return record

    def update(self, job_id: str, **fields: Any) -> None:
        if "detail" in fields:
            fields["detail"] = json.dumps(fields["detail"])
        assignments = ", ".join(f"{name} = ?" for name in fields)
        try:
            with self._connect() as db:
                db.execute(f"UPDATE jobs SET {assignments} WHERE id = ?", [*fields.values(), job_id])  # noqa: S608
        except sqlite3.Error as exc:
            raise HistoryError(f"cannot update job {job_id}: {exc}") from exc

    def get(self, job_id: str) -> JobRecord | None:
        with self._connect() as db:
            row = db.execute(
                "SELECT * FROM jobs WHERE id = ? AND workspace = ?", (job_id, self.workspace)
            ).fetchone()
        return _record(row) if row else None

    def list(self, project_id: str | None = None, limit: int = 200) -> list[JobRecord]:
        query = "SELECT * FROM jobs WHERE workspace = ?"
        args: list[Any] = [self.workspace]
        if project_id is not None:
            query += " AND project_id = ?"
            args.append(project_id)
        query += " ORDER BY queued_at DESC LIMIT ?"
        args.append(limit)
        with self._connect() as db:
            return [_record(row) for row in db.execute(query, args).fetchall()]

    def unfinished(self) -> list[JobRecord]:
        with self._connect() as db:
            rows = db.execute(
                "SELECT * FROM jobs WHERE workspace = ? AND status IN (?, ?)",
                (self.workspace, *ACTIVE_STATUSES),
            ).fetchall()
        return [_record(row) for row in rows]


def _record(row: sqlite3.Row) -> JobRecord:
    data = dict(row)
    data["detail"] = json.loads(data["detail"] or "{}")
    return JobRecord(**data)
