"""The command line on a team's server: who the history names, and a mode change that offers its sync."""

import os
import pwd

import pytest

from tests.conftest import write_project, write_workspace
from tests.test_cli import envboard
from webapp.core.jobs.history import History

pytestmark = pytest.mark.slow


def recorded(tmp_path, root) -> list[tuple[str, str, str]]:
    return [(job.action, job.who, job.status) for job in History(tmp_path / "state", root).list()]


def test_a_sync_from_a_shell_names_the_unix_user_or_the_name_given(tmp_path):
    root = write_workspace(tmp_path / "ws", ["uvp"])
    write_project(root / "uvp", "uvp", mode="persistent_uv")
    common = ("--workspace", str(root), "--state-dir", str(tmp_path / "state"))
    # as under cron, sudo or a service: no USER or LOGNAME in the environment
    no_login = {"USER": "", "LOGNAME": "", "LNAME": "", "USERNAME": ""}
    result = envboard("sync", "uvp", *common, env=no_login)
    assert result.returncode == 0, result.stderr
    result = envboard("sync", "uvp", "--as", "ci-bot", *common)
    assert result.returncode == 0, result.stderr
    me = pwd.getpwuid(os.getuid()).pw_name
    assert recorded(tmp_path, root) == [("sync", "ci-bot", "succeeded"), ("sync", me, "succeeded")]
    result = envboard("sync", "uvp", "--as", "two words", *common)
    assert (result.returncode, result.stderr) == (
        2,
        "envboard: --as 'two words' is not a name (letters, digits, . _ @ -)\n",
    )


def test_a_mode_change_to_uv_suggests_the_sync_or_runs_it(tmp_path):
    root = write_workspace(tmp_path / "ws", ["one", "two"])
    write_project(root / "one", "one")
    write_project(root / "two", "two")
    common = ("--workspace", str(root), "--state-dir", str(tmp_path / "state"))
    result = envboard("mode", "one", "persistent_uv", "--yes", *common)
    assert result.returncode == 0, result.stderr
    assert result.stdout.endswith(
        "one: mode is now persistent_uv\nNext: envboard sync one (uv creates or updates its .venv)\n"
    )
    assert not (root / "one" / ".venv").exists()
    result = envboard("mode", "two", "persistent_uv", "--yes", "--sync", "--as", "ann", *common)
    assert result.returncode == 0, result.stderr
    assert "two: mode is now persistent_uv" in result.stdout and "succeeded" in result.stderr
    assert (root / "two" / ".venv" / "pyvenv.cfg").exists()
    assert recorded(tmp_path, root)[:2] == [("sync", "ann", "succeeded"), ("mode", "ann", "succeeded")]
