"""Which watched folders saw an entry change: the monitor's cue to look again at a project.

A non-recursive watch (inotify through `watchfiles`) of a project's folder, its `.venv`,
its site-packages and the folders its cached answers depend on tells the monitor, within
a fraction of a second, that something there was created, written, renamed or removed.
The monitor then re-reads only those projects, and still re-stats everything now and
then in case an event was lost (a full inotify queue, a network file system).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable

log = logging.getLogger("envboard")

DEBOUNCE_MS = 300  # changes that arrive together (uv writing a venv) are reported together
STEP_MS = 200  # how often the watching thread looks for changes and for a stop
RETIRE_CHECK_MS = 1000  # a replaced watch ends within this, after reporting what it collected


class FolderWatcher:
    """Calls `on_change(paths)` from its own thread with the paths that changed in the watched folders."""

    def __init__(self, on_change: Callable[[set[str]], None]) -> None:
        self.on_change = on_change
        self.folders: frozenset[str] = frozenset()
        self._requested: frozenset[str] = frozenset()
        self.failure: str | None = None  # why watching is not possible here (the monitor then polls)
        self._stop: threading.Event | None = None
        self._retiring: threading.Event | None = None
        self._thread: threading.Thread | None = None

    @property
    def watching(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and self.failure is None

    def watch(self, folders: Iterable[str]) -> bool:
        """Watch exactly these folders (those that exist) from now on; False when watching failed.

        When this returns True, every change from now on is reported.
        """
        requested = frozenset(folders)
        if requested == self._requested and (self.watching or self.failure):
            return self.failure is None  # a failure is not retried until the folders change
        wanted = frozenset(f for f in requested if os.path.isdir(f))
        try:
            from watchfiles._rust_notify import RustNotify

            # debug, force_polling, poll_delay_ms, recursive, ignore_permission_denied
            notify = RustNotify(sorted(wanted), False, False, 1000, False, True)
        except Exception as exc:  # noqa: BLE001 - no watchfiles, no inotify, too many watches: poll instead
            self._retire()
            self._requested = requested
            self.failure = f"cannot watch folders ({exc.__class__.__name__}: {exc}); re-reading every pass"
            log.warning("envboard: %s", self.failure)
            return False
        self._retire()  # the new watch already collects events; the old one reports what it holds
        self._requested = requested
        self.failure = None
        self.folders = wanted
        stop, retire = threading.Event(), threading.Event()
        self._stop, self._retiring = stop, retire
        self._thread = threading.Thread(
            target=self._run, args=(notify, stop, retire), name="envboard-watch", daemon=True
        )
        self._thread.start()
        return True

    def _run(self, notify, stop: threading.Event, retire: threading.Event) -> None:
        with notify:
            while not stop.is_set() and not retire.is_set():
                try:
                    changes = notify.watch(DEBOUNCE_MS, STEP_MS, RETIRE_CHECK_MS, stop)
                except Exception as exc:  # noqa: BLE001 - the watcher broke: say so, the monitor polls
                    if not retire.is_set():  # a replaced watch's failure is no longer news
                        self.failure = f"folder watcher stopped ({exc.__class__.__name__}: {exc})"
                        log.warning("envboard: %s", self.failure)
                    return
                if isinstance(changes, set) and changes:
                    self.on_change({path for _, path in changes})
                elif changes == "stop":
                    return

    def _retire(self) -> None:
        if self._retiring is not None:
            self._retiring.set()
        self._stop = self._retiring = None
        self._thread = None

    def stop(self) -> None:
        if self._stop is not None:
            self._stop.set()
        self._stop = self._retiring = None
        self._thread = None
        self.folders = frozenset()
        self._requested = frozenset()
