"""The launcher with real processes: streaming, exit codes, cancel, timeouts, no leftovers."""

import os
import sys
import time
from pathlib import Path

from webapp.core.environments.confinement import child_environment
from webapp.core.environments.processes import Cancellation, Invocation, run


def python(code: str, cwd: Path) -> Invocation:
    return Invocation((sys.executable, "-c", code), cwd, child_environment())


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0); it is not running
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


class Recorder:
    """A sink that notes each chunk as it arrives, and may act on it (from the reader thread)."""

    def __init__(self, on_chunk=None) -> None:
        self.chunks: list[bytes] = []
        self.on_chunk = on_chunk

    def write(self, data: bytes) -> None:
        self.chunks.append(bytes(data))
        if self.on_chunk is not None:
            self.on_chunk(self.text)

    def flush(self) -> None:
        pass

    @property
    def text(self) -> str:
        return b"".join(self.chunks).decode()


def test_output_streams_while_the_command_runs(tmp_path):
    go = tmp_path / "go"
    code = (
        "import os, time\n"
        "print('first', flush=True)\n"
        f"while not os.path.exists({str(go)!r}): time.sleep(0.01)\n"
        "print('second', flush=True)"
    )
    seen_before_go = []

    def on_chunk(text):
        if not go.exists() and "first" in text:
            seen_before_go.append(text)
            go.touch()  # the command may go on only once its first line has reached us

    recorder = Recorder(on_chunk)
    result = run(python(code, tmp_path), sink=recorder)
    assert result.exit_code == 0 and result.ok
    assert seen_before_go and "second" not in seen_before_go[0], "output must arrive while the command runs"
    assert recorder.text == "first\nsecond\n"


def test_stderr_is_merged_and_exit_code_returned(tmp_path):
    code = "import sys\nprint('out')\nsys.stdout.flush()\nprint('err', file=sys.stderr)\nsys.exit(3)"
    result = run(python(code, tmp_path), capture=True)
    assert result.exit_code == 3 and not result.ok
    assert result.text == "out\nerr\n"


def test_missing_program_is_a_clear_error(tmp_path):
    result = run(Invocation(("/nonexistent/uv", "sync"), tmp_path, child_environment()))
    assert result.exit_code is None
    assert result.error == "cannot start: /nonexistent/uv not found"


def test_missing_folder_is_a_clear_error(tmp_path):
    result = run(Invocation((sys.executable, "-V"), tmp_path / "gone", child_environment()))
    assert "does not exist" in result.error


def test_cancel_ends_the_whole_process_group(tmp_path):
    pid_file = tmp_path / "grandchild.pid"
    code = (
        "import subprocess, sys, time\n"
        f"child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
        "print('started', flush=True)\n"
        "time.sleep(60)\n"
    )
    cancel = Cancellation()

    def on_chunk(text):
        if "started" in text:
            cancel.cancel()

    started = time.monotonic()
    result = run(python(code, tmp_path), sink=Recorder(on_chunk), cancel=cancel)
    assert result.cancelled and result.error == "cancelled"
    assert time.monotonic() - started < 10
    assert not alive(result.pid)
    grandchild = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(grandchild), "a grandchild survived the cancel"


def test_term_then_kill_after_grace(tmp_path):
    code = (
        "import signal, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "print('x', flush=True)\n"
        "time.sleep(60)"
    )
    cancel = Cancellation()
    cancelled_at = []

    def on_chunk(text):  # SIGTERM is ignored from here on: cancel now
        cancelled_at.append(time.monotonic())
        cancel.cancel()

    result = run(python(code, tmp_path), sink=Recorder(on_chunk), cancel=cancel, term_grace=0.5)
    assert result.cancelled
    waited = time.monotonic() - cancelled_at[0]
    assert 0.5 <= waited < 5, "SIGTERM ignored: KILL must follow the grace period"
    assert not alive(result.pid)


def test_timeout(tmp_path):
    result = run(python("import time; time.sleep(30)", tmp_path), timeout=0.5)
    assert result.timed_out and "timed out" in result.error
    assert not alive(result.pid)


def test_a_long_line_without_newline_reaches_the_sink_whole(tmp_path):
    sink_path = tmp_path / "log"
    code = "import sys\nsys.stdout.write('x' * 300000)\nsys.stdout.flush()"
    with sink_path.open("wb") as sink:
        result = run(python(code, tmp_path), sink=sink, capture=True)
    assert result.ok
    assert sink_path.read_bytes() == b"x" * 300000
    assert result.output == b"x" * 300000
