"""The jobs' data: the History (all jobs, one project's, one person's, one "Sync all"'s) and one job.

The data of `/history`, `/projects/<id>/history`, `/jobs/<id>` and its live log, and of
`/api/jobs...`. It reads the job history and the jobs' logs, not the monitor's snapshot,
which is why it is apart from the projects' pages.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from ..app import Envboard
from ..jobs.history import JobRecord
from ..jobs.kept import is_kept, no_longer_kept
from ..jobs.log import JobLog, LogChunk
from ..live.state import ProjectState


@dataclass(frozen=True)
class History:
    jobs: list[JobRecord]
    project: ProjectState | None  # set when it is one project's history
    who: str | None
    people: list[str]  # everyone in the history, for the filter by user
    rollbackable: frozenset[str] = frozenset()  # ended jobs that kept the files they replaced
    ids: tuple[str, ...] = ()  # only these jobs (what one "Sync all" started), when set
    pruned: frozenset[str] = frozenset()  # ended jobs whose kept files the retention has removed since
    retention: str = ""  # whose files stay kept, in words

    def files_kept(self, job: JobRecord) -> bool | None:
        """Whether "Roll back to before this job" is possible; None for jobs that keep no files."""
        return True if job.id in self.rollbackable else False if job.id in self.pruned else None

    def to_json(self) -> dict[str, Any]:
        return {"jobs": [{**job.to_json(), "files_kept": self.files_kept(job)} for job in self.jobs]}

    @property
    def version(self) -> str:
        """Changes whenever a row would: a job queued, started or ended, by this server or a shell's."""
        rows = [(j.id, j.status, j.started_at, j.ended_at, j.exit_code, j.lock_after) for j in self.jobs]
        undo = sorted(self.rollbackable)  # a job's kept files appear when it ends: its button with them
        gone = sorted(self.pruned)  # and go when the retention prunes them
        return hashlib.sha256(json.dumps([rows, undo, gone]).encode()).hexdigest()[:16]


def history(
    envboard: Envboard,
    project: ProjectState | None = None,
    who: str | None = None,
    ids: tuple[str, ...] = (),
) -> History:
    project_id = project.id if project else None
    records = envboard.jobs.history
    jobs = records.list(project_id, who=who or None)
    if ids:
        jobs = [job for job in jobs if job.id in ids]
    # a job whose files are kept can be undone: History offers "Roll back to before this job"
    undoable = frozenset(j.id for j in jobs if j.finished and is_kept(j.log_path))
    pruned = frozenset(j.id for j in jobs if j.id not in undoable and no_longer_kept(j))
    retention = envboard.jobs.retention.describe()
    return History(jobs, project, who or None, records.people(), undoable, ids, pruned, retention)


def log_chunk(record: JobRecord, offset: int, *, tail: bool = False) -> LogChunk:
    """New output of a job's log from a byte offset (the live log's data)."""
    return JobLog(record.log_path).read(offset, finished=record.finished, tail=tail)


def job(envboard: Envboard, job_id: str) -> JobRecord | None:
    return envboard.jobs.get(job_id)
