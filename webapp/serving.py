"""Serving with waitress until SIGTERM or SIGINT, then stopping cleanly.

In a container envboard is PID 1, and the kernel gives PID 1 no default action for
SIGTERM: without a handler `docker stop` / `podman stop` waits out its grace period,
then kills the server, and a running sync dies unrecorded. So on SIGTERM or SIGINT the
server stops accepting connections, ends the running jobs' process groups, records
those jobs as `interrupted` with a last log line, and exits 0 within a few seconds.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from waitress import create_server, wasyncore

from .core.jobs.manager import JobManager
from .slow_clients import Network, guard

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
STOP_REASON = "the server was stopped"
JOBS_TIMEOUT = 2.0  # the jobs' process groups are KILLed within this
REQUESTS_TIMEOUT = 0.3  # requests still being answered after the jobs are done get this long
EXIT_TIMEOUT = 0.5  # then threads still working (a plugin probe) are not waited for
# A thread back from a system call (waitress's poll and send, a session's SQLite read, a stat)
# waits up to the interpreter's switch interval (5 ms by default) for a busy thread to give
# up the lock: behind the busy request threads the I/O loop and signed-in requests queued.
# A shorter interval hands the lock over sooner, for a little more switching.
SWITCH_INTERVAL = 0.0005
log = logging.getLogger("envboard.serve")


def serve_until_stopped(
    app,
    jobs: JobManager,
    *,
    on_ready: Callable[[int], None] | None = None,
    on_stop: Sequence[Callable[[], None]] = (),
    per_address: int = 0,
    exempt: Sequence[Network] = (),
    **waitress_options: Any,
) -> int:
    """Serve `app` until SIGTERM or SIGINT, then stop as described above; returns 0.

    `waitress_options` are waitress's own (host, port, threads, connection_limit, ...).
    `on_ready` runs once the port is bound, given that port (the one the system chose for port
    0); an OSError from binding it propagates.
    `per_address` limits the connections of one client address (but not of those in
    `exempt`), and a request must arrive whole within waitress's `channel_timeout`
    (`slow_clients.py`).
    If a thread that is not part of the stop (a plugin probe still running) would keep the
    process alive past the stop, the process exits here, after flushing its output: every
    job is already recorded by then.
    """
    socket_map: dict = {}  # ours, so the loop below runs it a turn at a time
    sys.setswitchinterval(SWITCH_INTERVAL)
    waitress_options.setdefault("ident", "envboard")
    server = create_server(app, map=socket_map, **waitress_options)
    guard(socket_map, per_address, exempt)
    if on_ready is not None:
        on_ready(_bound_port(server))
    turn = {"timeout": server.adj.asyncore_loop_timeout, "use_poll": server.adj.asyncore_use_poll}
    wakeup = _SignalWakeup(socket_map)
    received: list[signal.Signals] = []

    def on_signal(signum: int, _frame) -> None:
        # only note it: the loop turn that the wakeup socket ends does the rest
        received.append(signal.Signals(signum))

    previous = {sig: signal.signal(sig, on_signal) for sig in STOP_SIGNALS}
    previous_wakeup = signal.set_wakeup_fd(wakeup.write_end, warn_on_full_buffer=False)
    try:
        while not received:
            wasyncore.loop(map=socket_map, count=1, **turn)
        started = time.monotonic()
        print(f"envboard: {received[0].name} received, stopping", file=sys.stderr, flush=True)
        _stop_accepting(socket_map)
        interrupted = _interrupt_jobs(jobs, socket_map, turn["use_poll"])
        server.task_dispatcher.shutdown(cancel_pending=True, timeout=REQUESTS_TIMEOUT)
        wasyncore.close_all(socket_map)
        for step in on_stop:
            step()
        note = f"; interrupted job(s) {', '.join(interrupted)}" if interrupted else ""
        print(f"envboard: stopped in {time.monotonic() - started:.1f} s{note}", file=sys.stderr, flush=True)
    finally:
        signal.set_wakeup_fd(previous_wakeup)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        wakeup.close_both()
    _exit_now_if_held()
    return 0


def _joined_at_exit(thread: threading.Thread) -> bool:
    """Whether the interpreter waits for this thread before the process can end.

    Non-daemon threads, and every worker of a ThreadPoolExecutor, daemon or not: a job's
    thread inherits `daemon` from the waitress thread that submitted it, and
    concurrent.futures joins its workers at exit all the same. The registry read here is
    private to concurrent.futures; without it only non-daemon threads are counted.
    """
    from concurrent.futures import thread as pool_threads

    workers = getattr(pool_threads, "_threads_queues", {})
    return not thread.daemon or thread in workers


class _SignalWakeup(wasyncore.dispatcher):
    """A socket pair in the loop: Python writes to it when a signal arrives, so poll returns."""

    def __init__(self, socket_map: dict) -> None:
        reader, self._writer = socket.socketpair()
        reader.setblocking(False)
        self._writer.setblocking(False)
        self.write_end = self._writer.fileno()
        super().__init__(reader, map=socket_map)

    def writable(self) -> bool:
        return False

    def handle_read(self) -> None:
        with contextlib.suppress(OSError):  # nothing to read: another turn drained it
            self.recv(512)

    def close_both(self) -> None:
        self.close()
        self._writer.close()


def _stop_accepting(socket_map: dict) -> None:
    """Close the listening sockets; accepted connections keep being served during the stop."""
    for dispatcher in list(socket_map.values()):
        if getattr(dispatcher, "accepting", False):
            dispatcher.del_channel()
            dispatcher.socket.close()


def _interrupt_jobs(jobs: JobManager, socket_map: dict, use_poll: bool) -> list[str]:
    """Interrupt the jobs in a thread while this one keeps answering requests already accepted."""
    interrupted: list[str] = []
    worker = threading.Thread(
        target=lambda: interrupted.extend(jobs.interrupt_all(STOP_REASON, timeout=JOBS_TIMEOUT)),
        name="interrupt-jobs",
        daemon=True,
    )
    worker.start()
    while worker.is_alive():
        wasyncore.loop(timeout=0.05, map=socket_map, use_poll=use_poll, count=1)
        worker.join(0.01)
    return interrupted


def _exit_now_if_held() -> None:
    deadline = time.monotonic() + EXIT_TIMEOUT
    others = [t for t in threading.enumerate() if _joined_at_exit(t) and t is not threading.current_thread()]
    for thread in others:
        thread.join(max(0.0, deadline - time.monotonic()))
    held = [thread.name for thread in others if thread.is_alive()]
    if held:
        log.warning("not waiting for thread(s) %s", ", ".join(held))
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


def _bound_port(server: Any) -> int:
    """The port waitress listens on: one socket's, or the first of several (a name like localhost)."""
    if hasattr(server, "effective_port"):
        return server.effective_port
    return server.effective_listen[0][1]
