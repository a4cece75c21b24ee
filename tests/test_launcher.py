"""The launcher with real processes: streaming, exit codes, cancel, timeouts, no leftovers."""

import os
import sys
import threading
import time
from pathlib import Path

from webapp.core.launcher import Cancellation, Invocation, child_environment, run


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


def test_lines_stream_as_they_are_printed(tmp_path):
    seen: list[tuple[float, str]] = []
    code = "import time\nprint('first', flush=True)\ntime.sleep(0.8)\nprint('second', flush=True)"
    started = time.monotonic()
    result = run(python(code, tmp_path), on_line=lambda line: seen.append((time.monotonic(), line)))
    assert result.exit_code == 0 and result.ok
    assert [line for _, line in seen] == ["first", "second"]
    assert seen[0][0] - started < 0.6, "the first line must arrive before the command ends"
    assert result.duration >= 0.8


def test_stderr_is_merged_and_exit_code_returned(tmp_path):
    lines = []
    code = "import sys\nprint('out')\nsys.stdout.flush()\nprint('err', file=sys.stderr)\nsys.exit(3)"
    result = run(python(code, tmp_path), on_line=lines.append)
    assert result.exit_code == 3 and not result.ok
    assert lines == ["out", "err"]


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
    lines = []

    def on_line(line):
        lines.append(line)
        if line == "started":
            cancel.cancel()

    started = time.monotonic()
    result = run(python(code, tmp_path), on_line=on_line, cancel=cancel)
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
    timer = threading.Timer(0.5, cancel.cancel)
    timer.start()
    started = time.monotonic()
    result = run(python(code, tmp_path), cancel=cancel)
    assert result.cancelled
    assert 5 <= time.monotonic() - started < 15, "SIGTERM ignored: KILL must follow the grace period"
    assert not alive(result.pid)


def test_timeout(tmp_path):
    result = run(python("import time; time.sleep(30)", tmp_path), timeout=0.5)
    assert result.timed_out and "timed out" in result.error
    assert not alive(result.pid)


def test_long_line_without_newline_reaches_the_sink_in_pieces(tmp_path):
    sink_path = tmp_path / "log"
    code = "import sys\nsys.stdout.write('x' * 300000)\nsys.stdout.flush()"
    lines = []
    with sink_path.open("wb") as sink:
        result = run(python(code, tmp_path), sink=sink, on_line=lines.append)
    assert result.ok
    assert sink_path.stat().st_size == 300000
    assert "".join(lines) == "x" * 300000
    assert max(len(line) for line in lines) <= 64 * 1024
