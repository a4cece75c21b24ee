"""Scratch folders handed to project code (the probe's answer, Dagster homes): removed when
envboard stops, and, after a process that was killed, when the next one starts."""

import signal
import subprocess
import sys
from pathlib import Path

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
