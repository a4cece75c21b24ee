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
        job = wait_for(
            lambda: (j := client.json(f"/api/jobs/{job_id}"))["status"] != "queued" and j, timeout=10
        )
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


# A process that leaves its group (setsid) and ignores SIGTERM, as a build step might: it
# writes its pid, then sleeps far longer than any test.
STUBBORN = (
    "import os, signal, sys, time\n"
    "if os.fork() == 0:\n"
    "    os.setsid()\n"
    "    signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "    open(sys.argv[1], 'w').write(str(os.getpid()))\n"
    "    time.sleep(600)\n"
    "    os._exit(0)\n"
    "time.sleep(600)\n"
)


def _alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_cancel_ends_a_grandchild_that_left_the_group_and_ignores_sigterm(tmp_path):
    import sys
    import threading

    from webapp.core.environments.confinement import child_environment
    from webapp.core.environments.leftovers import JOB_MARKER
    from webapp.core.environments.processes import Cancellation, Invocation, run

    pid_file = tmp_path / "grandchild.pid"
    cancel = Cancellation()
    env = child_environment(extra={JOB_MARKER: "job-stubborn"})
    invocation = Invocation((sys.executable, "-c", STUBBORN, str(pid_file)), tmp_path, env)
    threading.Thread(
        target=lambda: (wait_for(pid_file.exists, timeout=30), cancel.cancel()), daemon=True
    ).start()
    result = run(invocation, cancel=cancel, term_grace=0.5)
    assert result.cancelled
    grandchild = int(pid_file.read_text())
    assert not _alive(grandchild), "the grandchild outside the job's group outlived the cancel"


def _hanging_plugin_project(tmp_path, wheelhouse, uv_bin, token: str) -> Path:
    """A plugin whose import leaves the probe's group, ignores SIGTERM and sleeps, named by `token`
    on its command line (its pid may be one of a sandbox's own)."""
    from tests.conftest import ENTRY_GROUP, build_wheel, uv

    code = (
        "import os, signal, sys\n"
        "os.setsid()\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        f"os.execv(sys.executable, [sys.executable, '-c', 'import time; time.sleep(600)', {token!r}])\n"
    )
    wheel = build_wheel(
        tmp_path / "hang-wheels",
        "hang-plugin",
        "1.0.0",
        {"hang_plugin/__init__.py": code},
        entry_points={ENTRY_GROUP: {"hang_plugin": "hang_plugin"}},
    )
    root = write_workspace(tmp_path / "ws", ["hang"])
    project = write_project(
        root / "hang", "hang", mode="persistent_uv", dependencies=("dagster",), wheelhouse=wheelhouse
    )
    uv(uv_bin, "sync", cwd=project)
    uv(uv_bin, "pip", "install", "--python", ".venv/bin/python", str(wheel), cwd=project)
    return root


def _named(token: str) -> list[int]:
    import psutil

    found = []
    for process in psutil.process_iter(["cmdline", "status"]):
        if token in (process.info["cmdline"] or []) and process.info["status"] != psutil.STATUS_ZOMBIE:
            found.append(process.pid)
    return found


@pytest.mark.slow
@pytest.mark.parametrize("stop", ["SIGTERM", "SIGKILL, then the next start"])
def test_a_probe_left_running_ends_with_the_server(tmp_path, wheelhouse, uv_bin, live_server, stop):
    token = f"hanging-probe-{tmp_path.name}"
    root = _hanging_plugin_project(tmp_path, wheelhouse, uv_bin, token)
    url = live_server(root)
    process = live_server.processes[url]
    # the probe's module hangs (and so may a load check that imports it): all of them must end
    first = set(wait_for(lambda: _named(token), timeout=60))
    if stop == "SIGTERM":
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    else:
        process.kill()
        process.wait(timeout=10)
        live_server(root)  # starts over on the same state dir (its own probe hangs again)
    wait_for(lambda: not first & set(_named(token)), timeout=10)


@pytest.mark.slow
def test_sigterm_to_a_shell_sync_ends_uv_and_records_the_job(tmp_path):
    import sys

    from tests.conftest import live_group_members, write_slow_project

    project = write_slow_project(tmp_path / "slow")
    state = tmp_path / "state"
    shell = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "webapp",
            "sync",
            "slow",
            "--workspace",
            str(project),
            "--state-dir",
            str(state),
        ],
        env={**__import__("os").environ, "SLOW_BUILD_SECONDS": "120", "UV_NO_CACHE": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    database = state / "envboard.sqlite3"

    def running_job():
        if not database.exists():
            return None
        try:
            with sqlite3.connect(database) as db:
                row = db.execute("SELECT id, pid, log_path FROM jobs WHERE status = 'running'").fetchone()
        except sqlite3.OperationalError:  # not created yet
            return None
        return row if row and row[1] and "Building" in Path(row[2]).read_text() else None

    try:
        job_id, uv_group, _ = wait_for(running_job, timeout=60)
    except AssertionError:
        shell.kill()
        raise AssertionError(shell.communicate()[1].decode()) from None
    shell.send_signal(signal.SIGTERM)
    assert shell.wait(timeout=15) != 0
    assert live_group_members(uv_group) == [], "uv outlived `envboard sync`"
    with sqlite3.connect(database) as db:
        (status, message) = db.execute("SELECT status, message FROM jobs WHERE id = ?", (job_id,)).fetchone()
    assert status == "interrupted" and "SIGTERM" in message


@pytest.fixture
def small_state_dir(tmp_path):
    """The state dir on a 4 MB tmpfs of its own, so that the test can fill it (root only)."""
    import os

    state = tmp_path / "state"
    state.mkdir()
    if os.geteuid() != 0:
        pytest.skip("filling a real file system of its own needs root (mount -t tmpfs)")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(state)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    yield state
    subprocess.run(["umount", "-l", str(state)], check=False)


def _fill(folder: Path) -> Path:
    """Fills the file system of `folder` to its last byte (smaller writes take what larger left)."""
    filler = folder / "filler"
    with open(filler, "wb", buffering=0) as handle:
        for size in (65536, 4096, 1):
            try:
                while True:
                    handle.write(b"\0" * size)
            except OSError:
                pass
    return filler


# A build that waits until the test releases it, then fails loudly. `uv sync` installs the
# project editable, so the hooks it calls are the editable ones (without them uv fails at once,
# and the job would end before the disk is full).
NOISY_BACKEND = """
import os, sys, time

def get_requires_for_build_wheel(config_settings=None):
    return []

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    print("noisy backend: building", flush=True)
    while not os.path.exists(os.environ["NOISY_RELEASE"]):
        time.sleep(0.05)
    for number in range(2000):  # uv shows a failed build's output: far more than a page of log
        print(f"noisy backend: line {number} of what a failing build says", file=sys.stderr)
    raise SystemExit("noisy backend: failed")

get_requires_for_build_editable = get_requires_for_build_wheel
build_editable = build_wheel
"""


def write_noisy_project(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "noisy_backend.py").write_text(NOISY_BACKEND)
    (folder / "pyproject.toml").write_text(
        '[project]\nname = "noisy"\nversion = "0.1.0"\nrequires-python = ">=3.9"\ndependencies = []\n\n'
        '[build-system]\nrequires = []\nbuild-backend = "noisy_backend"\nbackend-path = ["."]\n\n'
        '[tool.dg]\ndirectory_type = "project"\n\n[tool.dg.project]\nroot_module = "noisy"\n'
        'python_environment = "persistent_uv"\n'
    )
    return folder


@pytest.mark.slow
def test_a_job_logging_onto_a_full_disk_ends_failed_once_space_returns(
    tmp_path, live_server, small_state_dir
):
    from tests.conftest import live_group_members

    release = tmp_path / "release"
    project = write_noisy_project(tmp_path / "noisy")
    env = {"NOISY_RELEASE": str(release), "ENVBOARD_PASS_ENV": "NOISY_RELEASE", "UV_NO_CACHE": "1"}
    url = live_server(project, env=env)
    client = Browserless(url)
    _, headers = client.post("/projects/noisy/sync")
    job_id = headers["Location"].rsplit("/", 1)[1]
    log_path = Path(wait_for(lambda: client.json(f"/api/jobs/{job_id}").get("log_path"), timeout=30))
    wait_for(lambda: "Building" in log_path.read_text(), timeout=60)
    with sqlite3.connect(small_state_dir / "envboard.sqlite3") as db:
        (uv_group,) = db.execute("SELECT pid FROM jobs WHERE id = ?", (job_id,)).fetchone()
    server_log = tmp_path / f"server-{url.rsplit(':', 1)[1]}.log"
    filler = _fill(small_state_dir)
    # the moment the test means: the disk is full and the job still running (its build waits)
    assert live_group_members(uv_group), "the job ended before the disk was full"
    said = len(server_log.read_bytes())
    release.touch()  # the build fails loudly: its output, and then the job's ending, find no space
    wait_for(lambda: not live_group_members(uv_group), timeout=60)  # uv has ended, the disk still full
    # the server has tried to record the job's end (it logs every ending, or why it could not)
    wait_for(lambda: job_id.encode() in server_log.read_bytes()[said:], timeout=30)
    assert client.json(f"/api/jobs/{job_id}")["status"] == "running"  # not recorded while the disk is full
    filler.unlink()  # space returns
    job = wait_for(lambda: (j := client.json(f"/api/jobs/{job_id}"))["status"] != "running" and j, timeout=30)
    assert job["status"] == "failed", job
    assert "No space left on device" in job["message"], job  # the build's noise hit the full disk
