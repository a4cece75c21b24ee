"""Jobs end when they are told to: a Cancel or a stop while a job waits for a project that a
shell's `envboard sync` holds, leftovers carrying a job's or a check's marker, a full disk."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import another_process_holds, wait_for, write_project, write_workspace
from tests.test_faults import Browserless


def _waiting_sync(tmp_path, live_server):
    root = write_workspace(tmp_path / "ws", ["held"])
    project = write_project(root / "held", "held", mode="persistent_uv")
    url = live_server(root)
    return url, project


def _start_and_wait_for_the_lock(url: str) -> tuple[Browserless, str]:
    client = Browserless(url)
    status, headers = client.post("/projects/held/sync")
    assert status == 303
    job_id = headers["Location"].rsplit("/", 1)[1]
    log_path = wait_for(lambda: client.json(f"/api/jobs/{job_id}").get("log_path"), timeout=30)
    wait_for(lambda: "waiting: another envboard process" in Path(log_path).read_text(), timeout=30)
    return client, job_id


@pytest.mark.slow
def test_cancel_ends_a_job_waiting_for_the_lock_while_the_shell_still_holds_it(tmp_path, live_server):
    url, project = _waiting_sync(tmp_path, live_server)
    with another_process_holds(tmp_path / "state" / "locks", project):
        client, job_id = _start_and_wait_for_the_lock(url)
        status, _ = client.post(f"/jobs/{job_id}/cancel")
        assert status in (200, 303)
        # the holder keeps the lock for a minute; the cancel must not wait for it
        job = wait_for(lambda: (j := client.json(f"/api/jobs/{job_id}"))["status"] != "queued" and j, timeout=10)
        assert job["status"] == "cancelled"
        assert "waiting for the project's lock" in job["message"]


@pytest.mark.slow
def test_sigterm_stops_a_server_whose_job_waits_for_the_lock(tmp_path, live_server):
    url, project = _waiting_sync(tmp_path, live_server)
    process = live_server.processes[url]
    with another_process_holds(tmp_path / "state" / "locks", project):
        _, job_id = _start_and_wait_for_the_lock(url)
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(timeout=3.0)  # the bar: a stop ends within 3 s
        except subprocess.TimeoutExpired:
            code = None
        assert code == 0, f"still running {time.monotonic() - started:.1f} s after SIGTERM"
    with sqlite3.connect(tmp_path / "state" / "envboard.sqlite3") as db:
        (status,) = db.execute("SELECT status FROM jobs WHERE id = ?", (job_id,)).fetchone()
    assert status == "interrupted"
