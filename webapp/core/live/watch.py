"""Which watched folders saw an entry change: the monitor's cue to look again at a project.

A non-recursive watch (inotify through `watchfiles`' public `watch`) of a project's folder, its `.venv`,
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
STEP_MS = 50  # how often the watching thread looks for changes and for a stop (watchfiles' default)
# with nothing changed, an empty answer this often: the first says the watch is in place (a start
# and every pass that changes the folders wait for it, holding the monitor's pass), and a replaced
# watch sees within this that it is retired, after reporting what it collected
IDLE_ANSWER_MS = 100
START_TIMEOUT_S = 5.0  # a watch not in place by then is a failure: the monitor re-reads instead


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
        stop, retire, ready = threading.Event(), threading.Event(), threading.Event()
        started: list[BaseException] = []  # why the watch could not start, if it could not
        thread = threading.Thread(
            target=self._run,
            args=(sorted(wanted), stop, retire, ready, started),
            name="envboard-watch",
            daemon=True,
        )
        thread.start()
        if not ready.wait(START_TIMEOUT_S) or started:
            stop.set()
            exc = started[0] if started else TimeoutError("the watch did not start")
            self._retire()
            self._requested = requested
            self.failure = f"cannot watch folders ({exc.__class__.__name__}: {exc}); re-reading every pass"
            log.warning("envboard: %s", self.failure)
            return False
        self._retire()  # the new watch already collects events; the old one reports what it holds
        self._requested = requested
        self.failure = None
        self.folders = wanted
        self._stop, self._retiring, self._thread = stop, retire, thread
        return True

    def _run(
        self,
        folders: list[str],
        stop: threading.Event,
        retire: threading.Event,
        ready: threading.Event,
        started: list[BaseException],
    ) -> None:
        """Report changes until stopped, or until retired (a newer watch has taken over)."""
        try:
            import watchfiles

            changes_seen = watchfiles.watch(
                *folders,
                watch_filter=None,  # every entry: a venv's dist-info folders and .pth files matter
                debounce=DEBOUNCE_MS,
                step=STEP_MS,
                stop_event=stop,
                rust_timeout=IDLE_ANSWER_MS,
                yield_on_timeout=True,  # an empty set now and then: the watch is up, and retire is seen
                recursive=False,
                ignore_permission_denied=True,
                raise_interrupt=False,
            )
            for changes in changes_seen:  # the first answer comes once the watch is in place
                ready.set()
                if changes:
                    self.on_change({path for _, path in changes})
                if retire.is_set():
                    return
        except Exception as exc:  # noqa: BLE001 - no watchfiles, no inotify, too many watches: poll instead
            if not ready.is_set():
                started.append(exc)
                ready.set()
            elif not retire.is_set():  # a replaced watch's failure is no longer news
                self.failure = f"folder watcher stopped ({exc.__class__.__name__}: {exc})"
                log.warning("envboard: %s", self.failure)

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
