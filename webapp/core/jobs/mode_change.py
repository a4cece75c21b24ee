"""A mode change as a job: recorded first, then written under the project's lock.

Apart from the queue because it is not queued: it runs at once in the caller's thread,
takes the project's lock without waiting (a sync in progress refuses it) and writes only
if the file still has the hash the user previewed (`workspace/modes.apply`).
"""

from __future__ import annotations

import logging
import time

from ..workspace import modes
from ..workspace.scan import Project
from .errors import JobError
from .history import FAILED, RUNNING, SUCCEEDED, HistoryError, JobRecord
from .locks import ProjectBusy
from .log import JobLog

log = logging.getLogger("envboard.jobs")


class ModeChanges:
    """`JobManager.change_mode`; mixed into `JobManager`, whose records, lock and endings it uses."""

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
        with self._deciding(project) as running:  # a job that has just ended is not in the way
            if running is not None:
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
