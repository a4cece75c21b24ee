"""The facts /metrics reports that the monitor's snapshot does not hold: how jobs and probes went.

Kept in memory and fed by the job manager and the board as things happen, so a scrape
reads memory only. The last successful sync of each project is read from the history
once at start (a restart keeps it), then updated as syncs end in this process.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from ..app import Envboard
from ..jobs.history import SUCCEEDED, HistoryError, JobRecord
from ..probe.answer import PluginList


class Activity:
    def __init__(self, envboard: Envboard) -> None:
        self._lock = threading.Lock()
        self.job_listeners: list[Callable[[JobRecord], None]] = []
        self.probe_listeners: list[Callable[[PluginList], None]] = []
        try:
            self._last_sync = envboard.history.last_successes("sync")
        except HistoryError:
            self._last_sync = {}  # an unreadable history: known from the next sync on
        envboard.jobs.finish_listeners.append(self._job_ended)
        envboard.board.probe_listeners.append(self._probed)

    def last_successful_sync(self) -> dict[str, float]:
        """Project id -> when its last sync succeeded (a copy)."""
        with self._lock:
            return dict(self._last_sync)

    def _job_ended(self, record: JobRecord) -> None:
        if record.action == "sync" and record.status == SUCCEEDED and record.ended_at is not None:
            with self._lock:
                self._last_sync[record.project_id] = record.ended_at
        for listener in self.job_listeners:
            listener(record)

    def _probed(self, plugins: PluginList) -> None:
        for listener in self.probe_listeners:
            listener(plugins)
