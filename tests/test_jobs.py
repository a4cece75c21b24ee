"""Sync jobs with real uv: success, failure, cancel, joining, history, restart recovery."""

import threading
import time
from pathlib import Path

import pytest

from tests.conftest import add_dependency, live_group_members, wait_for, write_project, write_slow_project
from webapp.core.jobs.errors import JobError
from webapp.core.jobs.history import History
from webapp.core.jobs.manager import JobManager
from webapp.core.jobs.sync import Outcome


@pytest.fixture
def make_jobs(tmp_path):
    managers = []

    def factory(board, **kwargs):
        manager = JobManager(board, History(tmp_path / "state", board.workspace.root), **kwargs)
        managers.append(manager)
        return manager

    yield factory
    for manager in managers:
        manager.close()


def test_sync_creates_the_environment_and_records_everything(tmp_path, wheelhouse, make_board, make_jobs):
    project_dir = write_project(
        tmp_path / "p", "p", mode="persistent_uv", dependencies=("dagster",), wheelhouse=wheelhouse
    )
    board = make_board(project_dir)
    jobs = make_jobs(board)
    project = board.workspace.projects[0]
    record, joined = jobs.sync(project, "alice")
    assert not joined
    final = jobs.wait(record.id, timeout=120)
    assert final.status == "succeeded", Path(final.log_path).read_text()
    assert final.exit_code == 0 and final.who == "alice" and final.duration > 0
    # the job's own time, within what its history row spans (not a wall-clock bound: the box is shared)
    assert final.started_at + final.duration <= final.ended_at
    assert final.lock_before is None and final.lock_after  # uv.lock was created
    log = Path(final.log_path).read_text()
    assert log.startswith("$ ") and " sync --color always" in log.splitlines()[0]
    assert "dagster" in log
    assert board.state(project, wait=True).status.status == "in_sync"
    history = jobs.history.list(project.id)
    assert [(h.id, h.action, h.status) for h in history] == [(record.id, "sync", "succeeded")]


def test_sync_shows_what_changed_in_the_plugin_list(tmp_path, wheelhouse, make_board, make_jobs, uv_bin):
    project_dir = write_project(
        tmp_path / "p", "p", mode="persistent_uv", dependencies=("dagster",), wheelhouse=wheelhouse
    )
    board = make_board(project_dir)
    jobs = make_jobs(board)
    first = jobs.wait(jobs.sync(board.workspace.projects[0], "a")[0].id, timeout=120)
    assert first.status == "succeeded"
    add_dependency(project_dir, "acme-plugin", next(wheelhouse.glob("acme_plugin-*.whl")))
    board.rescan()
    project = board.workspace.projects[0]
    assert board.check_status(project, board.resolve(project)).status == "out_of_sync"
    second = jobs.wait(jobs.sync(project, "a")[0].id, timeout=120)
    assert second.status == "succeeded"
    assert second.lock_before != second.lock_after
    diff = second.detail["plugin_diff"]
    assert diff["modules_added"] == ["acme_plugin"]
    assert diff["components_added"] == ["acme_plugin.WidgetComponent"]
    assert diff["modules_removed"] == [] and diff["components_removed"] == []


def test_a_failing_sync_is_a_failed_job_with_uvs_words(tmp_path, make_board, make_jobs):
    project_dir = write_project(tmp_path / "p", "p", mode="persistent_uv", dependencies=("no-such-dist-xyz",))
    board = make_board(project_dir)
    jobs = make_jobs(board)
    final = jobs.wait(jobs.sync(board.workspace.projects[0], "a")[0].id, timeout=120)
    assert final.status == "failed"
    assert final.exit_code not in (0, None)
    assert "no-such-dist-xyz" in Path(final.log_path).read_text()
    assert final.message.startswith("error: No solution found")  # uv's own words, not an exit code
    assert "no-such-dist-xyz" in final.message


def test_active_projects_cannot_be_synced_and_say_why(tmp_path, make_board, make_jobs):
    board = make_board(write_project(tmp_path / "p", "p"))
    jobs = make_jobs(board)
    with pytest.raises(JobError, match="does not manage the active environment"):
        jobs.sync(board.workspace.projects[0], "a")


def test_second_request_joins_and_cancel_ends_the_process_group(tmp_path, make_board, make_jobs, monkeypatch):
    monkeypatch.setenv("SLOW_BUILD_SECONDS", "120")
    monkeypatch.setenv("UV_NO_CACHE", "1")  # build for real every time
    board = make_board(write_slow_project(tmp_path / "slow"))
    jobs = make_jobs(board)
    project = board.workspace.projects[0]
    record, joined = jobs.sync(project, "alice")
    again, joined_again = jobs.sync(project, "bob")
    assert (again.id, joined, joined_again) == (record.id, False, True)
    wait_for(lambda: "Building" in Path(record.log_path).read_text(), timeout=60)
    running = jobs.get(record.id)
    assert running.status == "running" and running.pid
    started = time.monotonic()
    jobs.cancel(record.id, "bob")
    final = jobs.wait(record.id, timeout=30)
    assert final.status == "cancelled"
    assert time.monotonic() - started < 15
    assert "cancel requested by bob" in Path(record.log_path).read_text()
    wait_for(lambda: not live_group_members(running.pid), timeout=10)
    assert live_group_members(running.pid) == []
    assert jobs.active_job(project.id) is None


def test_a_job_asked_for_as_soon_as_the_last_one_ended_is_a_new_job(tmp_path, make_board, make_jobs):
    """A job's end is recorded while its thread still holds the project for a moment (its lock,
    its place in the queue). Whoever saw it end and asks at once (a script that waited for it,
    a second click) gets a new job: not the ended one joined, not "queued or running"."""
    project_dir = write_project(tmp_path / "p", "p", mode="persistent_uv", dependencies=("no-such-dist-xyz",))
    board = make_board(project_dir)
    jobs = make_jobs(board)
    project = board.workspace.projects[0]
    ended, let_go = threading.Event(), threading.Event()

    def still_holding(record):  # runs in the job's thread, after its end is recorded
        ended.set()
        let_go.wait(30)

    jobs.finish_listeners.append(still_holding)
    first, _ = jobs.sync(project, "ana")
    assert ended.wait(120) and jobs.wait(first.id, timeout=1).finished
    threading.Timer(0.5, let_go.set).start()
    second, joined = jobs.sync(project, "ana")
    assert not joined and second.id != first.id
    assert jobs.wait(second.id, timeout=120).finished
    wait_for(lambda: jobs.active_job(project.id) is None, timeout=30)  # its thread let go too

    ended.clear()
    let_go.clear()
    third, joined = jobs.sync(project, "ana")
    assert not joined and ended.wait(120)
    threading.Timer(0.5, let_go.set).start()
    done = Outcome(status="succeeded", exit_code=0, duration=0.0, cancelled=False)
    rollback = jobs.start(project, "rollback", "ana", lambda *args, **kwargs: done, {})  # no JobError
    assert rollback.id not in (first.id, second.id, third.id)
    assert jobs.wait(rollback.id, timeout=120).status == "succeeded"


def test_jobs_on_different_projects_queue_beyond_the_limit(tmp_path, make_board, make_jobs, monkeypatch):
    monkeypatch.setenv("SLOW_BUILD_SECONDS", "120")
    monkeypatch.setenv("UV_NO_CACHE", "1")  # build for real every time
    root = tmp_path / "ws"
    root.mkdir()
    (root / "dg.toml").write_text(
        'directory_type = "workspace"\n[[workspace.projects]]\npath = "a"\n[[workspace.projects]]\npath = "b"\n'
    )
    write_slow_project(root / "a")
    write_slow_project(root / "b")
    board = make_board(root)
    jobs = make_jobs(board, max_parallel=1)
    first, _ = jobs.sync(board.workspace.projects[0], "a")
    second, _ = jobs.sync(board.workspace.projects[1], "a")
    wait_for(lambda: jobs.get(first.id).status == "running", timeout=30)
    # the first is well into its build (uv started, the backend runs): the second still waits
    wait_for(lambda: "Building" in Path(jobs.get(first.id).log_path).read_text(), timeout=60)
    assert jobs.get(second.id).status == "queued"
    assert [job.id for job in jobs.queued_behind(second.id)] == [first.id]
    jobs.cancel(first.id, "a")
    wait_for(lambda: jobs.get(second.id).status == "running", timeout=30)
    jobs.cancel(second.id, "a")
    assert jobs.wait(second.id, timeout=30).status == "cancelled"


def test_restart_marks_a_running_job_interrupted(tmp_path, make_board, make_jobs):
    board = make_board(write_project(tmp_path / "p", "p", mode="persistent_uv"))
    jobs = make_jobs(board)
    project = board.workspace.projects[0]
    record = jobs.history.new_job(project.id, str(project.path), "sync", "alice", status="running")
    log = tmp_path / "state" / "logs" / f"{record.id}.log"
    log.write_text("Resolved 3 packages\n")
    jobs.history.update(record.id, log_path=str(log), pid=999999)
    recovered = make_jobs(make_board(project.path)).recover()
    assert recovered == [record.id]
    final = jobs.get(record.id)
    assert final.status == "interrupted"
    assert log.read_text().startswith("Resolved 3 packages\n")
    assert "interrupted" in log.read_text()


DYNAMIC_BACKEND = '''
"""Builds metadata for a dynamic version: the first call fails, later ones wait for the test."""
import os
import time

COUNT = os.environ["BUILD_COUNT_DIR"]


def get_requires_for_build_wheel(config_settings=None):
    return []


get_requires_for_build_editable = get_requires_for_build_wheel


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    n = len(os.listdir(COUNT)) + 1
    open(os.path.join(COUNT, f"build-{n}"), "w").close()
    if n == 1:
        raise RuntimeError("the first build fails")
    while not os.path.exists(os.path.join(COUNT, os.pardir, f"release-{n}")):
        time.sleep(0.05)
    raise RuntimeError("released")


prepare_metadata_for_build_editable = prepare_metadata_for_build_wheel
'''


@pytest.mark.slow
def test_a_failed_sync_ends_without_waiting_for_its_follow_up_check_which_runs_once(
    tmp_path, make_board, make_jobs, monkeypatch
):
    """uv's check after a failed sync builds again what failed (here: forever, until released).

    The job is recorded as failed while that check still builds, and a page asking for the
    project's status meanwhile joins that check rather than starting a second build.
    """
    count = tmp_path / "builds"
    count.mkdir()
    monkeypatch.setenv("BUILD_COUNT_DIR", str(count))
    monkeypatch.setenv("UV_NO_CACHE", "1")  # build for real every time
    folder = tmp_path / "dyn"
    folder.mkdir()
    (folder / "backend.py").write_text(DYNAMIC_BACKEND)
    (folder / "pyproject.toml").write_text(
        '[project]\nname = "dyn"\ndynamic = ["version"]\nrequires-python = ">=3.9"\ndependencies = []\n\n'
        '[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n\n'
        '[tool.dg]\ndirectory_type = "project"\n\n'
        '[tool.dg.project]\nroot_module = "dyn"\npython_environment = "persistent_uv"\n'
    )
    board = make_board(folder)
    jobs = make_jobs(board)
    project = board.workspace.projects[0]
    try:
        record, _ = jobs.sync(project, "ann")
        final = wait_for(lambda: (job := jobs.get(record.id)).finished and job, timeout=30)
        assert final.status == "failed"
        wait_for(lambda: (count / "build-2").exists(), timeout=30)  # the follow-up check is building
        assert board.is_busy(project)
        board.state(project)  # a page looks meanwhile
        (tmp_path / "release-2").touch()
        wait_for(lambda: not board.is_busy(project), timeout=30)
        assert sorted(path.name for path in count.iterdir()) == ["build-1", "build-2"]
    finally:
        for n in range(2, 6):  # nothing may wait on after the test
            (tmp_path / f"release-{n}").touch()


@pytest.mark.slow
def test_a_status_check_that_times_out_says_what_timed_out(tmp_path, make_board, monkeypatch, uv_bin):
    from tests.conftest import uv
    from webapp.core.environments import status

    count = tmp_path / "builds"
    count.mkdir()
    (count / "build-1").touch()  # so the next build is the second: it waits for release-2
    monkeypatch.setenv("BUILD_COUNT_DIR", str(count))
    monkeypatch.setenv("UV_NO_CACHE", "1")
    monkeypatch.setattr(status, "STATUS_CHECK_TIMEOUT", 1.0)
    folder = tmp_path / "dyn"
    folder.mkdir()
    (folder / "backend.py").write_text(DYNAMIC_BACKEND)
    (folder / "pyproject.toml").write_text(
        '[project]\nname = "dyn"\ndynamic = ["version"]\nrequires-python = ">=3.9"\ndependencies = []\n\n'
        '[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n\n'
        '[tool.dg]\ndirectory_type = "project"\n\n'
        '[tool.dg.project]\nroot_module = "dyn"\npython_environment = "persistent_uv"\n'
    )
    uv(uv_bin, "venv", cwd=folder)
    board = make_board(folder)
    project = board.workspace.projects[0]
    try:
        status = board.check_status(project, board.resolve(project))
        assert (status.status, status.reason) == ("unknown", "uv sync --check timed out after 1 s")
    finally:
        (tmp_path / "release-2").touch()
