"""A clean stop: SIGTERM or SIGINT to a real `envboard serve` with a sync running.

In a container envboard is PID 1, and `podman stop` / `docker stop` send SIGTERM; the
server must end the job's whole process group, record the job as interrupted with a last
log line, and exit 0 at once instead of being killed at the end of the grace period.
"""

import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.conftest import live_group_members, wait_for, write_project, write_slow_project, write_workspace
from tests.test_faults import Browserless
from webapp.core.live.board import Board
from webapp.core.settings import Settings

SLOW = {"SLOW_BUILD_SECONDS": "120", "UV_NO_CACHE": "1"}


def _start_slow_sync(url: str, database: Path) -> tuple[str, Path, int]:
    """A sync whose uv is building the slow backend; returns the job, its log and uv's group."""
    client = Browserless(url)
    status, headers = client.post("/projects/slow/sync")
    assert status == 303
    job_id = headers["Location"].rsplit("/", 1)[1]
    wait_for(lambda: client.json(f"/api/jobs/{job_id}")["status"] == "running", timeout=30)
    log_path = Path(client.json(f"/api/jobs/{job_id}")["log_path"])
    wait_for(lambda: "Building" in log_path.read_text(), timeout=60)
    with sqlite3.connect(database) as db:
        (uv_group,) = db.execute("SELECT pid FROM jobs WHERE id = ?", (job_id,)).fetchone()
    # uv and the Python running the build backend
    wait_for(lambda: len(live_group_members(uv_group)) >= 2, timeout=30)
    return job_id, log_path, uv_group


def _exit_code_within(process: subprocess.Popen, seconds: float) -> tuple[int | None, float]:
    started = time.monotonic()
    try:
        code = process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        code = None
    return code, time.monotonic() - started


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_stop_signal_interrupts_the_sync_and_exits_0(tmp_path, live_server, sig):
    project = write_slow_project(tmp_path / "slow")
    url = live_server(project, env=SLOW, fresh=True)  # the whole stop of `python -m webapp serve`
    process = live_server.processes[url]
    database = tmp_path / "state" / "envboard.sqlite3"
    job_id, log_path, uv_group = _start_slow_sync(url, database)
    before = log_path.read_text()

    process.send_signal(sig)
    code, took = _exit_code_within(process, 3.0)

    assert code == 0, f"exit code {code} after {took:.1f} s"
    assert live_group_members(uv_group) == [], "nothing of uv's process group outlives the server"
    with socket.socket() as probe:  # nothing listens any more
        assert probe.connect_ex((urlsplit(url).hostname, urlsplit(url).port)) != 0
    with sqlite3.connect(database) as db:
        status, message, ended = db.execute(
            "SELECT status, message, ended_at FROM jobs WHERE id = ?", (job_id,)
        ).fetchone()
    assert status == "interrupted" and ended is not None
    assert "the server was stopped" in message
    text = log_path.read_text()
    assert text.startswith(before), "the log is kept"
    assert text.rstrip().splitlines()[-1] == "[envboard] interrupted: the server was stopped"

    # a restarted server shows the same record, and a new sync of the project can start
    url = live_server(project, env={"SLOW_BUILD_SECONDS": "1", "UV_NO_CACHE": "1"})
    client = Browserless(url)
    job = client.json(f"/api/jobs/{job_id}")
    assert job["status"] == "interrupted"
    assert job["message"] == message
    status, headers = client.post("/projects/slow/sync")
    new_job = headers["Location"].rsplit("/", 1)[1]
    assert client.json(f"/api/jobs/{new_job}")["status"] in ("queued", "running", "succeeded")


def test_stop_signal_when_idle_exits_0_at_once(tmp_path, live_server):
    project = write_slow_project(tmp_path / "slow")
    url = live_server(project, fresh=True)
    process = live_server.processes[url]
    process.send_signal(signal.SIGTERM)
    # the promise is "stopped within 3 s"; a stop that waits out a poll or a grace breaks it
    code, took = _exit_code_within(process, 3.0)
    assert code == 0, (code, took)


def test_interrupt_all_ends_a_stubborn_build_and_a_queued_job(tmp_path, make_board, monkeypatch):
    """A build backend that ignores SIGTERM still ends; a job that never started is recorded too."""
    from webapp.core.jobs.history import History
    from webapp.core.jobs.manager import JobManager

    monkeypatch.setenv("SLOW_BUILD_SECONDS", "120")
    monkeypatch.setenv("UV_NO_CACHE", "1")
    root = write_workspace(tmp_path / "ws", ["stubborn", "waiting"])
    stubborn = write_slow_project(root / "stubborn")
    backend = stubborn / "slow_backend.py"
    backend.write_text("import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n" + backend.read_text())
    write_slow_project(root / "waiting")
    board = make_board(root)
    jobs = JobManager(board, History(tmp_path / "state", board.workspace.root), max_parallel=1)
    try:
        running, _ = jobs.sync(board.workspace.projects[0], "alice")
        queued, _ = jobs.sync(board.workspace.projects[1], "alice")
        wait_for(lambda: "Building" in Path(running.log_path).read_text(), timeout=60)
        group = jobs.get(running.id).pid
        wait_for(lambda: len(live_group_members(group)) >= 2, timeout=30)
        assert jobs.get(queued.id).status == "queued"

        started = time.monotonic()
        interrupted = jobs.interrupt_all("the server was stopped", timeout=2.0)
        took = time.monotonic() - started

        assert sorted(interrupted) == sorted([running.id, queued.id])
        assert took < 2.5, f"interrupt_all took {took:.1f} s"
        # KILLed by then: a loaded machine may take a moment to tear the processes down, but the
        # backend that ignores SIGTERM would otherwise build for 120 s
        wait_for(lambda: live_group_members(group) == [], timeout=5)
        for job in (running, queued):
            record = jobs.get(job.id)
            assert record.status == "interrupted", record
            assert record.message.startswith("interrupted: the server was stopped")
            last = Path(job.log_path).read_text().rstrip().splitlines()[-1]
            assert last == "[envboard] interrupted: the server was stopped"
        assert jobs.get(queued.id).started_at is None, "the queued job never started"
    finally:
        jobs.close()


@pytest.mark.slow
def test_closing_the_board_while_a_refresh_is_submitting_work_does_not_hang(tmp_path):
    """The monitor may be queueing checks for every project when the server stops.

    The pool's shutdown cancels queued work under its own lock, and each cancelled task's
    callback takes the board's lock; a submit must not hold the board's lock while it
    waits for the pool's. That was a stop that never ended.
    """
    paths = [f"projects/p{index:03d}" for index in range(300)]
    workspace = write_workspace(tmp_path / "ws", paths)
    for path in paths:
        write_project(workspace / path, path.rsplit("/", 1)[1])
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # threads take turns far more often, so the unlucky moment comes soon
    try:
        for attempt in range(20):
            # not the make_board fixture: its teardown would close a hung board again, and hang
            board = Board(Settings(workspace=workspace, state_dir=tmp_path / f"state{attempt}", workers=2))
            projects = board.workspace.projects
            stop = threading.Event()

            def refresh_forever(board=board, projects=projects, stop=stop):
                while not stop.is_set():
                    for project in projects:
                        board.state(project)

            refresher = threading.Thread(target=refresh_forever, daemon=True)
            refresher.start()
            time.sleep(0.003 * attempt)  # closing at different points of the first pass
            closing = threading.Thread(target=board.close, daemon=True)
            closing.start()
            closing.join(10)
            stop.set()
            refresher.join(10)
            assert not closing.is_alive(), f"close() hung (attempt {attempt + 1})"
            assert not refresher.is_alive(), f"a refresh hung after close() (attempt {attempt + 1})"
    finally:
        sys.setswitchinterval(previous)
