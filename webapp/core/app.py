"""One envboard: the board, its monitor, the history and the jobs, built and wired together.

The web app's factory (`web.create_app`) builds one; `envboard sync` and
`envboard mode` build one too, without starting the monitor, so the command line
runs the same code, locks and history as the server.
"""

from __future__ import annotations

from .disk.private import private_folder
from .disk.stamps import Memo
from .environments.leftovers import end_checks, end_checks_of_gone_servers
from .jobs.history import History
from .jobs.kept import Retention
from .jobs.manager import JobManager
from .live.board import Board
from .live.monitor import Monitor
from .settings import Settings
from .upgrades.outdated import OutdatedChecker


class Envboard:
    def __init__(self, settings: Settings, environ: dict[str, str] | None = None) -> None:
        self.settings = settings
        private_folder(settings.state_dir)  # the signing key, sessions, history and logs: ours alone
        self.board = Board(settings, environ)
        self.history = History(settings.state_dir, self.board.workspace.root)
        self.monitor = Monitor(
            self.board, settings.refresh_interval, settings.full_refresh_interval, settings.watch
        )
        self.jobs = JobManager(
            self.board,
            self.history,
            settings.max_jobs,
            term_grace=settings.term_grace,
            retention=Retention(settings.kept_jobs, settings.kept_days),
        )
        # what is built from a snapshot (the Versions matrix, its HTML), by the snapshot's
        # version: a newer snapshot is a new key, so nothing here is ever stale
        self.renders = Memo(max_entries=128)
        # what is outdated, per project: asked of each project's index in the background
        self.outdated = OutdatedChecker(self.board.resolver, self.board.cache, settings.outdated_lifetime)
        self.outdated.listeners.append(self.board.mark_changed)  # pages poll the snapshot: look again

    def start(self) -> None:
        """For a server: jobs a previous run left behind are settled, then the monitor starts."""
        self.jobs.recover()
        self.jobs.prune_kept()  # what the retention no longer covers, now that a day may have passed
        end_checks_of_gone_servers(self.board.owner, grace=self.settings.term_grace)
        _ = self.board.active.version  # asked once now, not during somebody's first API call
        self.monitor.start()

    def close(self) -> None:
        self.monitor.stop()
        self.jobs.close()
        self.outdated.close()
        self.board.close()
        # probes and checks still running (their threads are not waited for) end with us
        end_checks(self.board.owner, grace=1.0)
