"""Order of events under contention: what is checked, recorded and stamped before what."""

import threading
from pathlib import Path

import pytest

from tests.conftest import another_process_holds, uv, wait_for, write_project, write_slow_project
from webapp.core.jobs.errors import JobError
from webapp.core.jobs.history import History
from webapp.core.jobs.manager import JobManager
from webapp.core.workspace import mode_preview


def test_a_mode_change_while_the_projects_sync_runs_is_refused(tmp_path, make_board, monkeypatch):
    monkeypatch.setenv("UV_NO_CACHE", "1")
    release = tmp_path / "release"
    monkeypatch.setenv("SLOW_BUILD_RELEASE", str(release))
    board = make_board(write_slow_project(tmp_path / "slow"))
    jobs = JobManager(board, History(tmp_path / "state", board.workspace.root))
    try:
        project = board.workspace.projects[0]
        record, _ = jobs.sync(project, "alice")
        wait_for(lambda: "Building" in Path(record.log_path).read_text(), timeout=60)
        pyproject = project.path / "pyproject.toml"
        before = pyproject.read_bytes()
        change = mode_preview.preview(project, "active")
        with pytest.raises(JobError, match="in progress"):
            jobs.change_mode(change, change.file_hash, project, "bob")
        assert pyproject.read_bytes() == before
        release.touch()
        assert jobs.wait(record.id, timeout=120).status == "succeeded"
        jobs.change_mode(change, change.file_hash, project, "bob")  # once the sync has ended it goes through
        assert 'python_environment = "active"' in pyproject.read_text()
    finally:
        jobs.close()


def test_a_mode_change_that_cannot_be_recorded_writes_nothing(tmp_path, make_board):
    project_dir = write_project(tmp_path / "p", "p")
    board = make_board(project_dir)
    blocked = tmp_path / "state-is-a-file"
    blocked.write_text("not a folder")
    jobs = JobManager(board, History(blocked, board.workspace.root))
    project = board.workspace.projects[0]
    before = (project_dir / "pyproject.toml").read_bytes()
    change = mode_preview.preview(project, "persistent_uv")
    with pytest.raises(JobError, match="not writable"):
        jobs.change_mode(change, change.file_hash, project, "alice")
    jobs.close()
    assert (project_dir / "pyproject.toml").read_bytes() == before


SLOW_IMPORT = """
import os, time
open({started!r}, "w").close()
while not os.path.exists({release!r}):
    time.sleep(0.02)
"""


def test_an_install_that_lands_during_a_probe_is_not_recorded_as_seen(
    tmp_path, make_board, wheelhouse, uv_bin
):
    """The cache stores the stamps taken before the probe began, so the next look probes again."""
    project_dir = write_project(
        tmp_path / "p",
        "p",
        mode="persistent_uv",
        dependencies=("dagster",),
        wheelhouse=wheelhouse,
        local_components=True,
    )
    started, release = tmp_path / "probe-started", tmp_path / "probe-release"
    slow_module = project_dir / "src" / "p" / "components" / "slow.py"
    slow_module.write_text(SLOW_IMPORT.format(started=str(started), release=str(release)))
    uv(uv_bin, "sync", cwd=project_dir)
    board = make_board(project_dir)
    project = board.workspace.projects[0]
    env = board.resolve(project)
    answers = []
    prober = threading.Thread(target=lambda: answers.append(board.probe.probe(project, env)))
    prober.start()
    wait_for(started.exists, timeout=60)
    extra = next(wheelhouse.glob("extra_plugin-*.whl"))
    uv(uv_bin, "pip", "install", "--python", str(env.python), str(extra), cwd=project_dir)
    release.touch()
    prober.join(timeout=60)
    (answer,) = answers
    assert "extra_plugin" not in {m["module"] for m in answer.registry_modules}, "the probe ran before it"
    assert board.probe.cached(project, env) is None, "an answer older than the install must not be served"
    fresh = board.probe.probe(project, env)
    assert "extra_plugin" in {m["module"] for m in fresh.registry_modules}


def test_a_job_ends_once_and_its_interrupted_line_is_written_once(tmp_path, make_board):
    """A stopping server and the job itself may both end it: the first ending stands."""
    board = make_board(write_project(tmp_path / "p", "p", mode="persistent_uv"))
    jobs = JobManager(board, History(tmp_path / "state", board.workspace.root))
    project = board.workspace.projects[0]
    record = jobs._record(project, "sync", "alice")
    assert jobs.history.start(record.id, started_at=1.0)
    jobs._interrupt(record, "the server was stopped")
    jobs._interrupt(record, "the server was stopped")
    assert not jobs.history.finish(record.id, status="succeeded")
    final = jobs.get(record.id)
    assert final.status == "interrupted"
    assert Path(record.log_path).read_text().count("[envboard] interrupted") == 1
    assert not jobs.history.start(record.id, started_at=2.0), "an ended job never starts again"
    jobs.close()


def test_leftovers_are_found_by_their_marker_when_the_group_leader_is_gone(tmp_path):
    """uv died, the build it started lives on: a restart still finds and ends the build."""
    import os
    import subprocess
    import sys

    from tests.conftest import live_group_members
    from webapp.core.environments.leftovers import JOB_MARKER, end_leftover_groups, marked_groups

    child_pid = tmp_path / "child.pid"
    leader = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess, sys\n"
            "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'])\n"
            f"open({str(child_pid)!r}, 'w').write(str(child.pid))\n",
        ],
        env={**os.environ, JOB_MARKER: "job-gone-leader"},
        start_new_session=True,
    )
    leader.wait(timeout=30)  # the leader has exited; its child is still in the group
    wait_for(child_pid.exists, timeout=30)
    child = int(child_pid.read_text())
    try:
        assert marked_groups("job-gone-leader") == {leader.pid}
        assert marked_groups("another-job") == set()
        assert end_leftover_groups("job-gone-leader", grace=2.0)
        wait_for(lambda: not live_group_members(leader.pid), timeout=10)
    finally:
        if live_group_members(leader.pid):
            os.killpg(leader.pid, 9)
    assert not live_group_members(leader.pid) and child


def test_a_marked_process_that_ended_is_not_waited_for_while_nobody_reaps_it(tmp_path):
    """Under bubblewrap the inner process is an orphan, and a container's init may never reap
    it: a stop must see that it ended (a zombie) instead of spending the whole grace on it."""
    import os
    import subprocess
    import sys

    import psutil

    from webapp.core.environments.leftovers import CHECK_MARKER, end_checks

    owner = f"zombie-test-{os.getpid()}-{tmp_path.name}"
    child_pid = tmp_path / "child.pid"
    # the parent is not marked and never waits for its marked child, which has a group of its own
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import os, subprocess, sys, time\n"
            "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'],\n"
            "    env={**os.environ, sys.argv[1]: sys.argv[2]}, start_new_session=True)\n"
            "open(sys.argv[3], 'w').write(str(child.pid))\n"
            "time.sleep(120)\n",
            CHECK_MARKER,
            f"{owner}.1",
            str(child_pid),
        ],
        start_new_session=True,
    )
    try:
        wait_for(lambda: child_pid.exists() and child_pid.read_text(), timeout=30)
        child = psutil.Process(int(child_pid.read_text()))
        ended = threading.Event()
        stopper = threading.Thread(target=lambda: end_checks(owner, grace=120) and ended.set(), daemon=True)
        stopper.start()
        wait_for(ended.is_set, timeout=30)  # not the 120 s of grace
        assert child.status() == psutil.STATUS_ZOMBIE  # it did end, by the TERM
    finally:
        parent.kill()
        parent.wait()


def test_a_sync_that_waited_for_the_lock_reads_the_mode_written_meanwhile(tmp_path, make_board):
    """Queued behind another process's change that switched the project to active: not synced."""

    project_dir = write_project(tmp_path / "p", "p", mode="persistent_uv")
    board = make_board(project_dir)
    jobs = JobManager(board, History(tmp_path / "state", board.workspace.root))
    with another_process_holds(tmp_path / "state" / "locks", project_dir):
        record, _ = jobs.sync(board.workspace.projects[0], "alice")
        wait_for(lambda: "waiting" in Path(record.log_path).read_text(), timeout=30)
        pyproject = project_dir / "pyproject.toml"
        pyproject.write_text(pyproject.read_text().replace('"persistent_uv"', '"active"'))
    final = jobs.wait(record.id, timeout=60)
    jobs.close()
    assert final.status == "failed"
    assert "not synced" in final.message and "active environment" in final.message
    assert not (project_dir / ".venv").exists(), "uv never ran"
