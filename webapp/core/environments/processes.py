"""The launcher: the one place that starts a command and stops it (`_start` is the one Popen).

Commands are argv lists, never shell strings. Output (stdout and stderr merged) is
read in chunks so that a huge log or a line without a newline keeps memory flat.
Every command runs in a process group of its own, so stopping it reaches whatever it
started. With its two neighbours it is the only place that starts, stops or finds
processes: `confinement.py` decides what a command is given (the allow-listed environment,
bubblewrap, the job user), `leftovers.py` finds and ends marked processes with psutil.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import BinaryIO

from ..settings import TERM_GRACE
from .confinement import NOT_CONFINED, Confinement
from .leftovers import CHECK_MARKER, JOB_MARKER, end_marked, kill_group

CHUNK = 64 * 1024
NICE = shutil.which("nice", path=os.defpath)  # coreutils' (an absolute path: never PATH's choice)
MAX_CAPTURE = 8 * 1024 * 1024  # a captured answer larger than this is cut


@dataclass(frozen=True)
class Invocation:
    """What to start: argv, folder and environment, fully decided before spawning."""

    argv: tuple[str, ...]
    cwd: Path
    env: Mapping[str, str]
    confinement: Confinement = NOT_CONFINED  # applied by `run`; display() shows the command itself
    niceness: int = 0  # its CPU priority from its first instruction (`run` sets it)

    def display(self) -> str:
        """The command line as a person would type it (for showing, never for running)."""
        import shlex

        return shlex.join(self.argv)


@dataclass(frozen=True)
class Running:
    """A command this process started and is still waiting for."""

    argv: tuple[str, ...]
    cwd: Path
    started: float  # time.monotonic()

    def display(self, width: int = 60) -> str:
        """The command by its program's name (`uv sync --check`), cut to `width` characters."""
        import shlex

        text = shlex.join((Path(self.argv[0]).name, *self.argv[1:]))
        return text if len(text) <= width else text[: width - 1] + "…"


# what `run` is waiting for, so that a slow answer can say which command it waits on
_running: dict[int, Running] = {}
_running_lock = threading.Lock()
_tokens = itertools.count()  # not the pid: a pid may be reused before its entry is forgotten


def running_in(*folders: Path) -> list[Running]:
    """The commands running now in any of these folders, oldest first."""
    with _running_lock:
        found = [entry for entry in _running.values() if entry.cwd in folders]
    return sorted(found, key=lambda entry: entry.started)


@dataclass
class RunResult:
    argv: tuple[str, ...]
    exit_code: int | None
    duration: float
    error: str | None = None  # set when the command could not start or did not finish
    timed_out: bool = False
    cancelled: bool = False
    output: bytes = b""
    pid: int | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.exit_code == 0

    @property
    def text(self) -> str:
        return self.output.decode("utf-8", errors="replace")


@dataclass(frozen=True)
class UvLocation:
    path: str | None
    reason: str


def find_uv(override: str | None = None) -> UvLocation:
    """uv from `--uv`/ENVBOARD_UV, else the one the `uv` package ships, else PATH."""
    if override:
        found = shutil.which(override) or (override if Path(override).is_file() else None)
        if found:
            return UvLocation(str(found), "--uv / ENVBOARD_UV")
        return UvLocation(None, f"uv not found at {override!r} (from --uv / ENVBOARD_UV)")
    try:
        import uv  # the PyPI package ships the binary

        return UvLocation(uv.find_uv_bin(), "the uv package installed with envboard")
    except (ImportError, FileNotFoundError):
        pass
    on_path = shutil.which("uv")
    if on_path:
        return UvLocation(on_path, "uv on PATH")
    return UvLocation(None, "uv is not installed: pip install uv, or pass --uv PATH")


@dataclass
class Cancellation:
    """A cancel switch a job can flip from another thread."""

    event: threading.Event = field(default_factory=threading.Event)

    def cancel(self) -> None:
        self.event.set()

    @property
    def requested(self) -> bool:
        return self.event.is_set()


def _start(invocation: Invocation) -> subprocess.Popen:
    """The one line in envboard that starts a process (tests watch it here), confined as the
    invocation says (bubblewrap, a job user, an allow-listed environment)."""
    confinement = invocation.confinement
    argv = confinement.command(invocation.argv, invocation.cwd)
    if invocation.niceness and NICE:
        # coreutils' nice lowers it before it execs the command: set on the started process
        # instead, a child it started first (bubblewrap's, uv's) kept the normal priority
        argv = [NICE, "-n", str(invocation.niceness), *argv]
    return subprocess.Popen(  # noqa: S603 - argv list from a fixed table, no shell
        argv,
        cwd=invocation.cwd,
        env=confinement.environment(invocation.env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, so cancel reaches grandchildren
        **confinement.popen_options(),
    )


def run(
    invocation: Invocation,
    *,
    sink: BinaryIO | None = None,
    timeout: float | None = None,
    cancel: Cancellation | None = None,
    on_start: Callable[[int], None] | None = None,
    capture: bool = False,
    term_grace: float = TERM_GRACE,
    niceness: int = 0,
) -> RunResult:
    """Run to completion, streaming output; never raises for a command that fails.

    `niceness` lowers the command's CPU priority (background checks give way to pages and jobs).

    Output goes to `sink` as it arrives (a chunk at a time) and, with `capture`, into
    the result. A cancel or a timeout TERMs the whole group, then KILLs it after
    `term_grace` seconds.
    """
    started = time.monotonic()
    argv = invocation.argv
    try:
        process = _start(replace(invocation, niceness=niceness) if niceness else invocation)
    except FileNotFoundError as exc:
        missing = exc.filename if exc.filename not in (None, str(invocation.cwd)) else argv[0]
        if not Path(invocation.cwd).is_dir():
            message = f"cannot start {argv[0]}: folder {invocation.cwd} does not exist"
        else:
            message = f"cannot start: {missing} not found"
        return RunResult(argv, None, time.monotonic() - started, error=message)
    except OSError as exc:
        message = f"cannot start {argv[0]}: {exc.strerror or exc}"
        return RunResult(argv, None, time.monotonic() - started, error=message)
    if niceness and not NICE:
        # no `nice` on this system: set on the leader right after the start (no preexec_fn:
        # unsafe with threads); what it starts from then on inherits it
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, process.pid, niceness)
    token = next(_tokens)
    with _running_lock:
        _running[token] = Running(argv, Path(invocation.cwd), started)
    try:
        return _wait(process, invocation, started, sink, timeout, cancel, on_start, capture, term_grace)
    finally:
        with _running_lock:
            del _running[token]


def _wait(
    process: subprocess.Popen,
    invocation: Invocation,
    started: float,
    sink: BinaryIO | None,
    timeout: float | None,
    cancel: Cancellation | None,
    on_start: Callable[[int], None] | None,
    capture: bool,
    term_grace: float,
) -> RunResult:
    """`run` from the start on: output read, cancel and timeout watched, the group ended."""
    argv = invocation.argv
    if on_start:
        on_start(process.pid)
    reader = _OutputReader(process, sink, capture)
    reader.start()
    result = RunResult(argv, None, 0.0, pid=process.pid)
    deadline = started + timeout if timeout else None
    poll = 0.002  # short commands return fast; long ones are polled at most every 50 ms
    while True:
        try:
            process.wait(timeout=poll)
            break
        except subprocess.TimeoutExpired:
            poll = min(poll * 2, 0.05)
        if cancel is not None and cancel.requested:
            result.cancelled = True
            result.error = "cancelled"
            stop_process_group(process, term_grace)
            break
        if deadline is not None and time.monotonic() > deadline:
            result.timed_out = True
            result.error = f"timed out after {timeout:g} s"
            stop_process_group(process, term_grace)
            break
    kill_group(process.pid, signal.SIGKILL)  # nothing of the command may outlive it
    if result.cancelled or result.timed_out:  # nor what left its group (setsid), marker and all
        for name in (JOB_MARKER, CHECK_MARKER):
            if name in invocation.env:
                end_marked(name, invocation.env[name].__eq__, min(term_grace, 1.0))
    reader.join(timeout=5)
    result.exit_code = process.returncode
    if reader.sink_error is not None and result.error is None:  # the command ran; its output is lost
        result.error = f"its output could not be written: {reader.sink_error.strerror or reader.sink_error}"
    result.duration = time.monotonic() - started
    result.output = reader.captured()
    return result


def stop_process_group(process: subprocess.Popen, grace: float = TERM_GRACE) -> None:
    """TERM the whole group, then KILL it if it has not gone after `grace` seconds."""
    kill_group(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        kill_group(process.pid, signal.SIGKILL)
        process.wait()


class _OutputReader(threading.Thread):
    def __init__(self, process, sink, capture: bool) -> None:
        super().__init__(daemon=True, name=f"output-{process.pid}")
        self._fd = process.stdout.fileno()
        self._pipe = process.stdout
        self._sink = sink
        self._capture = bytearray() if capture else None
        self.sink_error: OSError | None = None  # a full disk: the rest is read and dropped

    def run(self) -> None:
        try:
            while chunk := os.read(self._fd, CHUNK):
                self._handle(chunk)
        except OSError:
            pass
        finally:
            self._pipe.close()

    def _handle(self, chunk: bytes) -> None:
        if self._sink is not None and self.sink_error is None:
            try:
                self._sink.write(chunk)
                self._sink.flush()
            except OSError as exc:  # reading on, so the command never blocks on a full pipe
                self.sink_error = exc
        if self._capture is not None:
            self._capture += chunk[: MAX_CAPTURE - len(self._capture)]

    def captured(self) -> bytes:
        return bytes(self._capture) if self._capture is not None else b""
