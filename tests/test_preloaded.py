"""The tests' forked servers (`tests/preloaded.py`) behave as the processes they stand for.

Each handle keeps its own server's exit code, however the server ended, and a signal never
reaches a process after its server is gone (its pid may belong to another process by then)."""

from __future__ import annotations

import signal
import urllib.request

from tests.conftest import write_workspace


def test_each_forked_server_has_its_own_exit_code_and_is_signalled_only_while_it_runs(tmp_path, live_server):
    root = write_workspace(tmp_path / "ws", [])
    first, second = live_server(root), live_server(root, "--state-dir", str(tmp_path / "second"))
    one, two = live_server.processes[first], live_server.processes[second]
    assert one.pid != two.pid and one.poll() is None and two.poll() is None
    assert urllib.request.urlopen(second + "/healthz", timeout=10).status == 200

    one.kill()
    assert one.wait(timeout=30) == -signal.SIGKILL
    assert two.poll() is None  # the other server goes on
    assert urllib.request.urlopen(second + "/healthz", timeout=10).status == 200

    two.send_signal(signal.SIGTERM)  # as a person stops `envboard serve`: a clean stop
    assert two.wait(timeout=30) == 0
    assert (one.poll(), two.poll()) == (-signal.SIGKILL, 0)
    one.terminate()  # both ended: nothing is signalled, nothing changes
    two.kill()
    assert (one.wait(timeout=1), two.wait(timeout=1)) == (-signal.SIGKILL, 0)
    log = next(tmp_path.glob(f"server-{second.rsplit(':', 1)[1]}.log")).read_text()
    assert "envboard: SIGTERM received, stopping" in log and "envboard: stopped in" in log
