"""Faults with real processes: killed servers and uv, missing uv, no network, a read-only or
full state dir, projects vanishing, huge and endless output. The page always answers, no
record or log is lost, and no process is left behind."""

import contextlib
import http.cookiejar
import json
import os
import re
import resource
import signal
import sqlite3
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import (
    OPERATOR_TOKEN,
    core,
    live_group_members,
    signed_in,
    wait_for,
    write_project,
    write_slow_project,
    write_workspace,
)
from webapp.core.environments.confinement import child_environment
from webapp.core.environments.processes import Invocation, run


class Browserless:
    """An HTTP client with a cookie jar that posts like the page does (CSRF header)."""

    def __init__(self, url: str, token: str | None = OPERATOR_TOKEN) -> None:
        """Opens the page as the link `envboard serve` printed (with `token`), or without one."""
        self.url = url
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), NoRedirect()
        )
        if token is not None:  # the link answers 303 to the page without the token, signed in
            with contextlib.suppress(urllib.error.HTTPError):
                self.opener.open(signed_in(url + "/", token))
        page = self.opener.open(url + "/").read().decode()
        self.csrf = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)

    def post(self, path: str) -> tuple[int, dict]:
        request = urllib.request.Request(self.url + path, method="POST", headers={"X-CSRF-Token": self.csrf})
        try:
            response = self.opener.open(request)
            return response.status, dict(response.headers)
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers)

    def json(self, path: str) -> dict:
        return json.loads(self.opener.open(self.url + path).read())


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


@pytest.mark.slow
def test_server_killed_mid_sync_then_restarted(tmp_path, live_server, monkeypatch):
    project = write_slow_project(tmp_path / "slow")
    slow = {"SLOW_BUILD_SECONDS": "120", "UV_NO_CACHE": "1"}
    url = live_server(project, env=slow)
    client = Browserless(url)
    status, headers = client.post("/projects/slow/sync")
    assert status == 303
    job_id = headers["Location"].rsplit("/", 1)[1]
    wait_for(lambda: client.json(f"/api/jobs/{job_id}")["status"] == "running", timeout=30)
    job = client.json(f"/api/jobs/{job_id}")
    log_path = Path(job["log_path"])
    wait_for(lambda: "Building" in log_path.read_text(), timeout=30)
    before_kill = log_path.read_text()
    server_pid = live_server.pids[url]
    database = sqlite3.connect(tmp_path / "state" / "envboard.sqlite3")
    (uv_group,) = database.execute("SELECT pid FROM jobs WHERE id = ?", (job_id,)).fetchone()
    database.close()
    os.kill(server_pid, signal.SIGKILL)
    live_server.processes[url].wait(timeout=30)  # the server is gone
    # in bubblewrap uv dies with the server (--die-with-parent); as a job user or unconfined it
    # outlives it until the restart finds it by its marker: either way none of it is left below
    monkeypatch.setenv("SLOW_BUILD_SECONDS", "1")
    url = live_server(project, env={"SLOW_BUILD_SECONDS": "1", "UV_NO_CACHE": "1"})
    client = Browserless(url)
    job = client.json(f"/api/jobs/{job_id}")
    assert job["status"] == "interrupted"
    assert log_path.read_text().startswith(before_kill), "the log is kept up to the kill"
    assert "interrupted" in log_path.read_text()
    wait_for(lambda: not live_group_members(uv_group), timeout=15)
    status, headers = client.post("/projects/slow/sync")
    new_job = headers["Location"].rsplit("/", 1)[1]
    wait_for(lambda: client.json(f"/api/jobs/{new_job}")["status"] == "succeeded", timeout=120)


def test_uv_killed_mid_sync_fails_that_job_only(tmp_path, make_board, wheelhouse, monkeypatch):
    from webapp.core.jobs.history import History
    from webapp.core.jobs.manager import JobManager

    monkeypatch.setenv("SLOW_BUILD_SECONDS", "120")
    monkeypatch.setenv("UV_NO_CACHE", "1")
    root = write_workspace(tmp_path / "ws", ["slow", "fine"])
    write_slow_project(root / "slow")
    write_project(
        root / "fine", "fine", mode="persistent_uv", dependencies=("dagster",), wheelhouse=wheelhouse
    )
    board = make_board(root)
    jobs = JobManager(board, History(tmp_path / "state", root), max_parallel=2)
    try:
        slow, fine = board.workspace.projects
        doomed, _ = jobs.sync(slow, "a")
        wait_for(lambda: (jobs.get(doomed.id).pid or 0) > 0 and jobs.get(doomed.id).status == "running", 30)
        other, _ = jobs.sync(fine, "a")
        os.kill(jobs.get(doomed.id).pid, signal.SIGKILL)
        final = jobs.wait(doomed.id, timeout=30)
        assert final.status == "failed"
        assert final.message == "uv was killed by signal 9 (SIGKILL) before it finished"
        assert jobs.wait(other.id, timeout=120).status == "succeeded"
    finally:
        jobs.close()


def test_uv_missing_says_why_and_the_page_still_works(tmp_path, make_app):
    root = write_workspace(tmp_path / "ws", ["uvp", "act"])
    write_project(root / "uvp", "uvp", mode="persistent_uv")
    write_project(root / "act", "act")
    app = make_app(root)
    core(app).board.uv = type(core(app).board.uv)(
        None, "uv is not installed: pip install uv, or pass --uv PATH"
    )
    client = app.test_client()
    page = client.get("/projects/uvp").get_data(as_text=True)
    assert "Sync is unavailable: uv is not installed" in page
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    response = client.post("/projects/uvp/sync", headers={"X-CSRF-Token": csrf, "HX-Request": "1"})
    assert response.status_code == 409 and "uv is not installed" in response.get_data(as_text=True)
    assert client.get("/").status_code == 200


def test_uv_missing_from_the_command_line(tmp_path, capsys):
    from webapp.cli import main

    project = write_project(tmp_path / "p", "p", mode="persistent_uv")
    code = main(
        [
            "sync",
            "p",
            "--workspace",
            str(project),
            "--state-dir",
            str(tmp_path / "s"),
            "--uv",
            str(tmp_path / "no-uv"),
        ]
    )
    assert code == 2
    assert "uv not found at" in capsys.readouterr().err


def test_no_network_for_a_download_is_a_failed_job_in_uvs_words(tmp_path, make_board):
    from webapp.core.jobs.history import History
    from webapp.core.jobs.manager import JobManager

    board = make_board(write_project(tmp_path / "p", "p", mode="persistent_uv", dependencies=("six",)))
    jobs = JobManager(board, History(tmp_path / "state", board.workspace.root))
    try:
        final = jobs.wait(jobs.sync(board.workspace.projects[0], "a")[0].id, timeout=120)
    finally:
        jobs.close()
    assert final.status == "failed"
    assert "network" in final.message and "six" in final.message


@pytest.fixture
def small_mount(tmp_path):
    """A real tmpfs of 256 KiB unless told (root can mount here and in CI); umounted afterwards."""
    mounts = []

    def make(name: str, size: str = "256k") -> Path:
        folder = tmp_path / name
        folder.mkdir()
        result = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True
        )
        if result.returncode != 0:
            pytest.fail(f"cannot mount a tmpfs here: {result.stderr.decode()}")
        mounts.append(folder)
        return folder

    yield make
    for folder in mounts:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def test_read_only_state_dir_still_shows_environments(tmp_path, make_app, small_mount, wheelhouse):
    root = write_workspace(tmp_path / "ws", ["uvp", "act"])
    write_project(root / "uvp", "uvp", mode="persistent_uv")
    write_project(root / "act", "act")
    state = small_mount("state")
    subprocess.run(["mount", "-o", "remount,ro", str(state)], check=True)
    app = make_app(root, state_dir=state)
    client = app.test_client()
    overview = client.get("/")
    assert overview.status_code == 200
    assert 'id="project-uvp"' in overview.get_data(as_text=True)
    page = client.get("/projects/uvp").get_data(as_text=True)
    assert "actions are unavailable" in page and "not writable" in page
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    refused = client.post("/projects/uvp/sync", headers={"X-CSRF-Token": csrf, "HX-Request": "1"})
    assert refused.status_code == 409
    # a mode change that cannot be recorded is not written either
    pyproject = root / "act" / "pyproject.toml"
    before = pyproject.read_bytes()
    preview = client.get("/api/projects/act/mode?to=persistent_uv").get_json()
    written = client.post(
        "/projects/act/mode",
        data={"to": "persistent_uv", "file_hash": preview["file_hash"], "csrf_token": csrf},
    )
    assert written.status_code == 409 and "not writable" in written.get_data(as_text=True)
    assert pyproject.read_bytes() == before
    assert client.get("/readyz").status_code == 503
    wait_for(lambda: "0 modules" in client.get("/").get_data(as_text=True), timeout=30)  # probes still run


def test_full_state_dir_refuses_new_jobs_with_a_reason(tmp_path, make_app, small_mount):
    root = write_workspace(tmp_path / "ws", ["uvp"])
    write_project(root / "uvp", "uvp", mode="persistent_uv")
    state = small_mount("state")
    app = make_app(root, state_dir=state)
    with open(state / "filler", "wb", buffering=0) as filler:
        try:
            while filler.write(b"x" * 4096):
                pass
        except OSError:
            pass  # ENOSPC: the state dir is full
    client = app.test_client()
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/").get_data(as_text=True)).group(1)
    statuses = []
    for _ in range(3):  # until SQLite's free pages are used up too
        response = client.post("/projects/uvp/sync", headers={"X-CSRF-Token": csrf, "HX-Request": "1"})
        statuses.append(response.status_code)
        if response.status_code == 409:
            assert "cannot record the job" in response.get_data(as_text=True)
            break
        job_id = re.search(r'id="job-(\w+)"', response.get_data(as_text=True)).group(1)
        wait_for(lambda job_id=job_id: core(app).jobs.get(job_id).finished, timeout=60)
    assert 409 in statuses
    assert 500 not in statuses
    assert client.get("/").status_code == 200


def test_a_project_folder_removed_or_renamed_while_the_page_is_open(tmp_path, make_app):
    root = write_workspace(tmp_path / "ws", ["one", "two"])
    write_project(root / "one", "one")
    write_project(root / "two", "two")
    client = make_app(root).test_client()
    assert (
        "error"
        not in client.get("/fragments/rows?status=error").get_data(as_text=True).split("<tr", 1)[-1][:0]
    )
    (root / "one").rename(root / "one-renamed")
    wait_for(lambda: "does not exist" in client.get("/").get_data(as_text=True), timeout=10)
    page = client.get("/projects/one").get_data(as_text=True)
    assert "Configuration error" in page and "does not exist" in page
    assert 'id="project-two"' in client.get("/").get_data(as_text=True)
    assert client.get("/api/projects/two").get_json()["error"] is None


def test_a_hundred_megabytes_of_output_keep_memory_flat(tmp_path):
    code = "import sys\nline = b'x' * 99 + b'\\n'\nfor _ in range(1_048_576): sys.stdout.buffer.write(line)\n"
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with open(tmp_path / "big.log", "wb") as sink:
        result = run(
            Invocation((sys.executable, "-c", code), tmp_path, child_environment()),
            sink=sink,
        )
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert result.ok
    assert (tmp_path / "big.log").stat().st_size == 100 * 1_048_576
    assert grown_mb < 20, f"memory grew by {grown_mb:.0f} MB while streaming 100 MB"


def test_a_line_without_newline_reaches_the_log_before_the_command_ends(tmp_path):
    import threading

    log = tmp_path / "partial.log"
    done = tmp_path / "done"
    code = (
        "import os, sys, time\nsys.stdout.write('downloading... 42%')\nsys.stdout.flush()\n"
        f"while not os.path.exists({str(done)!r}): time.sleep(0.01)\n"
    )
    with open(log, "wb") as sink:
        worker = threading.Thread(
            target=run,
            args=(Invocation((sys.executable, "-c", code), tmp_path, child_environment()),),
            kwargs={"sink": sink},
        )
        worker.start()
        wait_for(lambda: log.read_bytes() == b"downloading... 42%", timeout=30)
        assert worker.is_alive(), "the partial line must show while the command still runs"
        done.touch()
        worker.join()
    assert log.read_bytes() == b"downloading... 42%"
