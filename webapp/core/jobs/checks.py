"""Definitions load checks in the history: asking for one, and recording each that ran.

Apart from the queue because a check is not a job the manager runs: the board runs it
(`Board.submit_check`, one per project, joined), and the manager only records what it
found, one history entry per check with its output as the log.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from ..probe.loadverdict import NOT_APPLICABLE, LoadCheck
from ..workspace.scan import Project
from .errors import JobError
from .history import FAILED, RUNNING, SUCCEEDED, HistoryError, JobRecord
from .log import JobLog

logger = logging.getLogger("envboard.jobs")


class CheckRecords:
    """`JobManager.check` and `record_check`; mixed into `JobManager`, whose records they use."""

    def check(self, project: Project, who: str):
        """Check now whether the project loads, in the background (joins a check under way);
        refused while a job of the project is queued or changes its environment (the job or the
        look after it checks).

        Returns the check's Future, or None when there is nothing to check (a config error);
        the history records the check when it has run (`record_check`).
        """
        env = self.board.resolve(project)
        if env is None:
            raise JobError("the project's config has an error: there is nothing to load")
        if self.board.is_changing(project) or self.active_job(project.id):  # no verdict to give on it yet
            raise JobError(
                "a job is changing the environment it runs in; "
                "its definitions are checked once that job has ended"
            )
        return self.board.submit_check(project, env, who)

    def record_check(self, project: Project, verdict: LoadCheck, who: str) -> JobRecord | None:
        """One history entry per check that ran (who, when, verdict, duration), its output as the log."""
        if verdict.status == NOT_APPLICABLE or self.unavailable:
            return None
        started = verdict.checked_at or time.time()
        detail: dict[str, Any] = {
            "load_check": {k: v for k, v in verdict.to_json().items() if k not in ("output", "keys")}
        }
        try:
            record = self._record(project, "check", who, status=RUNNING, started_at=started, detail=detail)
            log = JobLog(record.log_path)
            log.append(f"$ {verdict.command}\n{verdict.output}")
            status = SUCCEEDED if verdict.loads else FAILED
            message = "loads" if verdict.loads else (verdict.error or {}).get("message")
            self._finish(record, status, message=message, duration=verdict.duration, detail=detail)
        except (JobError, HistoryError, OSError):
            logger.exception("the load check of %s could not be recorded", project.id)
            return None
        self._changed(project)
        if verdict.loads:  # what loads here is worth loading there; a failing edit is not pushed onto it
            self.reloads.ask(project, record)  # after the check, off the load-check pool
        return record
