"""`python -m webapp serve` for the tests, forked from a Python that has already imported it.

Most of a test server's own start is the interpreter's and its imports' (0.22 s of the 0.29 s
of CPU to its first /healthz on an empty workspace: `benchmarks/server_start.py`), and a run of
the suite starts over a hundred servers on a machine whose cores are the limit. So each pytest worker keeps one parent Python (this module
run as `python -m tests.preloaded`) that imports what `serve` imports, and nothing more: no
app, no board, no thread, no file. For each server it forks a child, which takes the test's
environment, working folder and log and then runs `webapp`'s `__main__` as `python -m webapp`
does (runpy). The child is the server: its own process, with its own pid, signals and exit
code, and it ends as that process ends (the interpreter's own shutdown). The parent reaps it
and reports its exit code; `Forked` gives the tests what they used from `subprocess.Popen`.

A test that is about the start of the process itself asks `live_server(..., fresh=True)`.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# what `envboard serve` imports before it serves (webapp/cli/serve.py imports the rest inside
# the command); a child imports anything else itself, as a fresh process would
PRELOADED = (
    "webapp.cli",
    "webapp.core.access.users",
    "webapp.core.disk.files",
    "webapp.serving",
    "webapp.web",
    "webapp.web.access_log",
    "webapp.web.services",
    "webapp.cli.hosting",
)


class Forked:
    """A forked server, with the part of `subprocess.Popen` the tests use.

    Known by the number of its request, not by its pid: the parent reaps a server as soon as it
    ends, so its pid may be given to another process before the tests hear of it."""

    def __init__(self, parent: PreloadedPython, number: int, pid: int, args: list[str]) -> None:
        self._parent = parent
        self._number = number
        self.pid = pid
        self.args = args

    @property
    def returncode(self) -> int | None:
        return self._parent.exit_code(self._number)

    def poll(self) -> int | None:
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        code = self._parent.wait_exit(self._number, timeout)
        if code is None:
            raise subprocess.TimeoutExpired(self.args, timeout)
        return code

    def send_signal(self, sig: int) -> None:
        self._parent.signal(self._number, sig)

    def terminate(self) -> None:
        import signal

        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        import signal

        self.send_signal(signal.SIGKILL)


class PreloadedPython:
    """The parent Python of one pytest worker; `start()` forks a server from it."""

    def __init__(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "tests.preloaded"],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        self._asking = threading.Lock()  # one request at a time on the pipe
        self._changed = threading.Condition()
        self._numbers = itertools.count(1)
        self._answers: dict[int, dict] = {}  # request number: the parent's answer (a pid, a signal sent)
        self._exits: dict[int, int] = {}  # request number: its server's exit code
        self._ended = False
        threading.Thread(target=self._read, name="preloaded-python", daemon=True).start()

    def start(self, args: list[str], env: dict[str, str], log: Path) -> Forked:
        """Fork `python -m webapp ARGS` with this environment, output appended to `log`."""
        number = self._ask({"fork": {"args": args, "env": env, "cwd": os.getcwd(), "log": str(log)}})
        return Forked(self, number, self._answer(number)["pid"], [sys.executable, "-m", "webapp", *args])

    def signal(self, number: int, sig: int) -> None:
        """Have the parent signal the server of that request, unless it has reaped it already."""
        self._answer(self._ask({"signal": {"server": number, "signal": int(sig)}}))

    def exit_code(self, number: int) -> int | None:
        with self._changed:
            return self._exits.get(number)

    def wait_exit(self, number: int, timeout: float | None) -> int | None:
        with self._changed:
            self._changed.wait_for(lambda: number in self._exits or self._ended, timeout=timeout)
            if number not in self._exits and self._ended:
                raise AssertionError("the preloaded Python ended before its server did")
            return self._exits.get(number)

    def close(self) -> None:
        self._process.stdin.close()  # its loop ends at the end of its input
        self._process.wait(timeout=30)
        self._process.stdout.close()

    def _ask(self, request: dict) -> int:
        number = next(self._numbers)
        with self._asking:
            self._process.stdin.write(json.dumps({"number": number, **request}).encode() + b"\n")
            self._process.stdin.flush()
        return number

    def _answer(self, number: int) -> dict:
        with self._changed:
            if not self._changed.wait_for(lambda: number in self._answers or self._ended, timeout=30):
                raise AssertionError("the preloaded Python did not answer within 30 s")
            if number not in self._answers:
                raise AssertionError("the preloaded Python has ended")
            return self._answers.pop(number)

    def _read(self) -> None:
        for line in self._process.stdout:
            said = json.loads(line)
            with self._changed:
                if "exited" in said:
                    self._exits[said["exited"]] = said["code"]
                else:
                    self._answers[said["number"]] = said
                self._changed.notify_all()
        with self._changed:
            self._ended = True
            self._changed.notify_all()


def _parent() -> None:
    """Import; then fork a server or signal one for each request line on stdin, and report each
    server's exit on stdout by the number of the request that forked it."""
    import importlib
    import select
    import signal

    for name in PRELOADED:
        importlib.import_module(name)
    assert threading.active_count() == 1, "an import started a thread: forking would lose it"
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)  # nothing else of this process writes there
    os.close(null)
    woken, wake = os.pipe()  # SIGCHLD writes to it, so select returns when a child ends
    os.set_blocking(woken, False)
    os.set_blocking(wake, False)
    signal.set_wakeup_fd(wake)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    servers: dict[int, int] = {}  # pid of each child not reaped yet: the number of its request
    pending = b""
    while True:
        ready, _, _ = select.select([0, woken], [], [])
        with contextlib.suppress(BlockingIOError):
            while os.read(woken, 512):
                pass
        _report_exits(servers, answers)
        if 0 not in ready:
            continue
        data = os.read(0, 65536)
        if not data:
            return
        pending += data
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            request = json.loads(line)
            if "signal" in request:
                # only this process reaps its children: one not reaped yet still holds its pid
                wanted = request["signal"]
                pid = next((pid for pid, number in servers.items() if number == wanted["server"]), None)
                if pid is not None:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, wanted["signal"])
                answers.write(json.dumps({"number": request["number"], "sent": pid is not None}) + "\n")
                continue
            pid = os.fork()
            if pid == 0:
                answers.close()  # the child's copy: the parent's stays open
                _become_server(request["fork"], (woken, wake))  # never returns
            servers[pid] = request["number"]
            answers.write(json.dumps({"number": request["number"], "pid": pid}) + "\n")


def _report_exits(servers: dict[int, int], answers) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        number = servers.pop(pid, None)
        if number is None:  # not a server (nothing else is forked here; said for safety)
            continue
        answers.write(json.dumps({"exited": number, "code": os.waitstatus_to_exitcode(status)}) + "\n")


def _become_server(request: dict, inherited: tuple[int, ...]) -> None:
    """In the child: the test's environment, folder and log, then `python -m webapp`'s own run.

    Its SystemExit ends this process through the interpreter's own shutdown, as it ends
    `python -m webapp`: non-daemon threads joined, atexit handlers run, buffers flushed."""
    import runpy
    import signal
    import time

    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    for fd in inherited:
        os.close(fd)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    log = os.open(request["log"], os.O_WRONLY | os.O_APPEND)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    time.tzset()
    sys.argv = [sys.argv[0], *request["args"]]
    runpy.run_module("webapp", run_name="__main__", alter_sys=True)
    sys.exit(0)  # webapp's __main__ exits itself; this is only a guard


if __name__ == "__main__":
    _parent()
