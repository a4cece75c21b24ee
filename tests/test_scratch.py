"""Scratch folders handed to project code (the probe's answer, Dagster homes): removed when
envboard stops, and, after a process that was killed, when the next one starts."""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from webapp.core.disk.scratch import ROOT_PREFIX, ScratchRoot

REPO = Path(__file__).resolve().parent.parent

HOLDER = """
import sys, time
sys.path.insert(0, {repo!r})
from pathlib import Path
from webapp.core.disk.scratch import ScratchRoot

scratch = ScratchRoot(Path({parent!r}))
folder = scratch.folder("probe-")
(folder / "answer.json").write_text("{{}}")
print(scratch.root(), flush=True)
time.sleep(600)  # until the test kills it
"""


def _holder(parent: Path) -> tuple[subprocess.Popen, Path]:
    """A process that made its scratch root and holds it, as a running envboard does."""
    code = HOLDER.format(repo=str(REPO), parent=str(parent))
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    return process, Path(process.stdout.readline().strip())


def test_a_killed_processs_scratch_is_removed_by_the_next_start_and_a_living_ones_kept(tmp_path):
    killed, killed_root = _holder(tmp_path)
    living, living_root = _holder(tmp_path)
    try:
        killed.send_signal(signal.SIGKILL)
        killed.wait(timeout=30)
        assert killed_root.is_dir()  # nobody could remove it
        starting = ScratchRoot(tmp_path)
        mine = starting.root()  # the next start sweeps first
        assert not killed_root.exists()
        assert living_root.is_dir() and any(living_root.glob("probe-*/answer.json"))
        assert mine.name.startswith(ROOT_PREFIX) and mine.is_dir()
        starting.remove()
        assert not mine.exists()
    finally:
        living.kill()
        living.wait(timeout=30)


def test_the_board_removes_its_scratch_when_it_closes(tmp_path, make_board):
    from tests.conftest import write_project

    board = make_board(write_project(tmp_path / "p", "p"))
    folder = board.scratch.folder("probe-")
    assert folder.parent == board.scratch.root() and folder.stat().st_mode & 0o777 == 0o700
    assert board.scratch.root().stat().st_mode & 0o777 == 0o711  # a job user passes, lists nothing
    board.close()
    assert not folder.exists() and not folder.parent.exists()


@pytest.fixture
def base():
    """A folder where other users may pass (0711), removed afterwards; not under pytest's own
    folder, which pytest keeps 0700. The tests using it play a server that is not root."""
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv to play a server that is not root, and a job user")
    folder = Path(tempfile.mkdtemp(prefix="envboard-reclaim-"))
    folder.chmod(0o711)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_a_server_that_is_not_root_removes_what_the_job_user_wrote(base):
    """In the container the server runs as its own user with CAP_CHOWN, project code as the job
    user, and Dagster's storage folders in a home are the job user's, 0755: the server takes
    them back and removes them, where a plain rmtree left them in the temporary folder."""
    import pwd

    server, job = pwd.getpwnam("nobody"), _job_user()
    scratch = base / "scratch"
    scratch.mkdir()
    os.chown(scratch, server.pw_uid, server.pw_gid)
    home = scratch / "home-x"  # as a server hands a home over: the job user's, the server's group
    home.mkdir()
    os.chown(home, job.pw_uid, server.pw_gid)
    home.chmod(0o770)
    storage = "import os; os.makedirs('{0}/history/runs'); open('{0}/history/runs/index.db', 'w').write('x')"
    as_job = {"user": job.pw_uid, "group": job.pw_gid, "extra_groups": []}
    subprocess.run(["/usr/bin/python3", "-c", storage.format(home)], check=True, **as_job)
    elsewhere = base / "root-owned"  # what project code would have envboard's user take through a link
    elsewhere.mkdir(mode=0o755)
    link = f"import os; os.symlink({str(elsewhere)!r}, '{home}/history/link')"
    subprocess.run(["/usr/bin/python3", "-c", link], check=True, **as_job)
    library = base / "lib"  # the module, where the other user can import it from
    library.mkdir(mode=0o755)
    code = shutil.copy(REPO / "webapp" / "core" / "disk" / "scratch.py", library / "scratch_module.py")
    ran = _remove_as_server(library, home, server)
    assert ran.returncode == 0, ran.stderr
    assert not home.exists(), sorted(str(p) for p in home.rglob("*"))
    assert elsewhere.is_dir() and elsewhere.stat().st_uid == 0  # the link was removed, not followed
    assert code.is_file()


def test_a_third_users_folder_moved_into_a_home_is_neither_taken_nor_emptied(base):
    """Project code can move in a folder of another user that it may rename (a group-writable
    one in a shared folder) but whose folders inside it may not empty: the server takes back
    the job user's folders only, and leaves that one as it was."""
    import pwd

    server, job, colleague = pwd.getpwnam("nobody"), _job_user(), pwd.getpwnam("daemon")
    home = base / "home-x"
    home.mkdir()
    os.chown(home, job.pw_uid, server.pw_gid)
    storage = home / "history"  # the job user's own, 0755: taken back and removed
    storage.mkdir(mode=0o755)
    os.chown(storage, job.pw_uid, job.pw_gid)
    moved = storage / "shared"  # the colleague's, as project code moved it in
    (moved / "kept").mkdir(parents=True)
    (moved / "kept" / "work.txt").write_text("a colleague's")
    for folder in (moved, moved / "kept"):
        folder.chmod(0o755)
        os.chown(folder, colleague.pw_uid, colleague.pw_gid)
    library = base / "lib"
    library.mkdir(mode=0o755)
    shutil.copy(REPO / "webapp" / "core" / "disk" / "scratch.py", library / "scratch_module.py")
    ran = _remove_as_server(library, home, server)
    assert ran.returncode == 0, ran.stderr
    assert (moved / "kept" / "work.txt").read_text() == "a colleague's"
    assert moved.stat().st_uid == (moved / "kept").stat().st_uid == colleague.pw_uid


def _remove_as_server(library: Path, folder: Path, server) -> subprocess.CompletedProcess:
    """remove_tree(folder) run as the server's user with CAP_CHOWN alone, as in the container."""
    remove = f"import sys; sys.path.insert(0, {str(library)!r}); import scratch_module; scratch_module.remove_tree(__import__('pathlib').Path({str(folder)!r}))"
    caps = "-all,+chown"
    as_server = [
        "setpriv",
        f"--reuid={server.pw_uid}",
        f"--regid={server.pw_gid}",
        "--clear-groups",
        f"--inh-caps={caps}",
        f"--ambient-caps={caps}",
        f"--bounding-set={caps}",
        "--",
    ]
    return subprocess.run([*as_server, "/usr/bin/python3", "-c", remove], capture_output=True, text=True)


def _job_user():
    import pwd

    from tests.test_isolation import JOB_USER

    try:
        return pwd.getpwnam(JOB_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", JOB_USER], check=True)
        return pwd.getpwnam(JOB_USER)


def test_a_root_left_half_made_by_a_killed_process_is_removed_once_it_is_old(tmp_path):
    """Killed between making its root and locking it: no lock says whether it lives, so the
    next start removes it once it is older than any root being made (a few milliseconds)."""
    import os
    import time

    from webapp.core.disk.scratch import MAKING_GRACE, MAKING_PREFIX

    left = tmp_path / f"{MAKING_PREFIX}left"
    left.mkdir()
    (left / "probe-x").mkdir()
    long_ago = time.time() - MAKING_GRACE - 60
    os.utime(left, (long_ago, long_ago))
    being_made = tmp_path / f"{MAKING_PREFIX}now"  # another process's, this very moment
    being_made.mkdir()
    starting = ScratchRoot(tmp_path)
    try:
        starting.root()
        assert not left.exists() and being_made.is_dir()
    finally:
        starting.remove()
