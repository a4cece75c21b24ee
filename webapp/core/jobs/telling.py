"""The reload a job asks of the Dagster webserver (--dagster-url), after the job, off its path.

A webserver answers a reload once the location has loaded, which can take minutes, and a
hung one never answers. So no job waits for it: the job ends and frees the project's lock
first (a mode change or another sync goes ahead, Cancel has nothing left to wait for, the
load-check pool moves on), then a thread of its own asks, one reload at a time per project;
a newer job's reload replaces one still waiting (the newest environment is the one to load).
What the webserver answered goes into the job's log and detail when it comes, and is the
project's webserver status in any case (`DagsterWebserver.reload` keeps it).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from ..live.board import Board
from ..probe.webserver import LocationAnswer, location_of
from ..workspace.scan import Project
from .history import History, HistoryError, JobRecord
from .log import JobLog

logger = logging.getLogger("envboard.jobs")


def tell_webserver(board: Board, project: Project, log: JobLog) -> LocationAnswer | None:
    """Ask the Dagster webserver (--dagster-url) to reload the project's code location, and say in
    the job's log what it answered; returns the answer. None without one."""
    if board.webserver is None:
        return None
    location = location_of(project)
    log.append(f"\n[envboard] asking the Dagster webserver at {board.webserver.url} to reload {location!r}\n")
    answer = board.webserver.reload(location)
    log.append(f"[envboard] the Dagster webserver: {answer.words()}\n")
    if answer.error:
        log.append(answer.error.rstrip() + "\n")
    return answer


class WebserverReloads:
    """Reloads asked after jobs end: one at a time per project, the newest waiting one wins."""

    def __init__(self, board: Board, history: History, on_told: Callable[[Project], None]) -> None:
        self.board = board
        self.history = history
        self.on_told = on_told  # the job's record changed: pages look again
        self._waiting: dict[str, tuple[Project, JobRecord]] = {}  # project id -> the next reload
        self._asking: set[str] = set()  # projects whose reload is under way
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)  # told when a project's reloads are all done
        self.said: dict[str, str] = {}  # project id -> what the webserver answered last, in words

    def ask(self, project: Project, record: JobRecord) -> None:
        """Ask the webserver to reload the project's location after `record`'s job; never waits."""
        if self.board.webserver is None:
            return
        with self._lock:
            replaced = self._waiting.get(project.id)
            self._waiting[project.id] = (project, record)
            start = project.id not in self._asking
            self._asking.add(project.id)
        if replaced is not None:
            said = f"\n[envboard] not reloaded in the Dagster webserver: job {record.id} asks it instead\n"
            JobLog(replaced[1].log_path).append(said)
        if start:
            name = f"envboard-reload-{project.id}"
            threading.Thread(target=self._ask_each, args=(project.id,), name=name, daemon=True).start()

    def wait(self, timeout: float) -> bool:
        """Until no reload is under way or waiting (a command line that asked for them waits for
        the answers before it exits); False when `timeout` passed first."""
        with self._idle:
            return self._idle.wait_for(lambda: not self._asking, timeout)

    def busy(self, project_id: str) -> bool:
        """Whether a reload of the project is under way or waiting."""
        with self._lock:
            return project_id in self._asking

    def _ask_each(self, project_id: str) -> None:
        while True:
            with self._lock:
                waiting = self._waiting.pop(project_id, None)
                if waiting is None:
                    self._asking.discard(project_id)
                    self._idle.notify_all()
                    return
            try:
                self._tell(*waiting)
            except Exception:  # noqa: BLE001 - a reload must never stop the next one
                logger.exception("the Dagster webserver could not be told of %s", project_id)

    def _tell(self, project: Project, record: JobRecord) -> None:
        answer = tell_webserver(self.board, project, JobLog(record.log_path))
        if answer is None:
            return
        self.said[project.id] = (
            f"the Dagster webserver at {answer.url}, {answer.location!r}: {answer.words()}"
        )
        try:
            current = self.history.get(record.id)
            detail = {
                **(current.detail if current is not None else record.detail),
                "webserver": answer.to_json(),
            }
            self.history.update(record.id, detail=detail)
        except HistoryError:
            logger.warning("job=%s: the webserver's answer cannot be recorded", record.id)
            return
        record.detail = detail
        self.on_told(project)
