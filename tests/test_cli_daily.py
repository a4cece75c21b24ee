"""The command line on a team's server: who the history names, and a mode change that offers its sync."""

import os
import pwd

import pytest

from tests.conftest import write_project, write_workspace
from tests.test_cli import envboard
from webapp.core.jobs.history import History


def recorded(tmp_path, root) -> list[tuple[str, str, str]]:
    return [(job.action, job.who, job.status) for job in History(tmp_path / "state", root).list()]


@pytest.mark.slow
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


@pytest.mark.slow
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


BAD_FLAGS = [
    (["serve", "--port", "99999"], "argument --port: 99999 is not a port (0-65535)"),
    (["serve", "--port", "http"], "argument --port: 'http' is not a whole number"),
    (["serve", "--max-jobs", "0"], "argument --max-jobs: 0 is too small: it must be 1 or more"),
    (["serve", "--threads", "0"], "argument --threads: 0 is too small: it must be 1 or more"),
    (
        ["serve", "--connection-limit", "-5"],
        "argument --connection-limit: -5 is too small: it must be 1 or more",
    ),
    (
        ["serve", "--public-url", "notaurl"],
        "argument --public-url: 'notaurl' is not a URL such as https://envboard.example.com",
    ),
    (["serve", "--no-such-flag"], "unrecognized arguments: --no-such-flag"),
    (
        ["mode", "alpha", "sideways"],
        "argument MODE: invalid choice: 'sideways' (choose from 'active', 'persistent_uv', 'remove-key')",
    ),
    (["cache"], "the following arguments are required: COMMAND"),
    (["users", "list", "--users", "u.toml", "--colour"], "unrecognized arguments: --colour"),
]


@pytest.mark.parametrize(("command", "message"), BAD_FLAGS, ids=lambda value: " ".join(value)[:40])
def test_a_bad_flag_is_one_line_under_its_subcommands_usage_and_exit_2(tmp_path, command, message):
    result = envboard(*command)
    subcommand = " ".join(word for word in command[:2] if not word.startswith("-") and word != "alpha")
    *usage, last = result.stderr.strip().splitlines()
    assert (result.returncode, last) == (2, f"envboard {subcommand}: error: {message}"), result.stderr
    assert usage[0].startswith(f"usage: envboard {subcommand} ")
    assert "Traceback" not in result.stderr


def test_an_environment_variable_is_checked_like_its_flag(tmp_path):
    result = envboard("serve", env={"ENVBOARD_PORT": "99999"})
    assert result.returncode == 2
    assert (
        result.stderr.strip().splitlines()[-1]
        == "envboard serve: error: argument --port: 99999 is not a port (0-65535)"
    )


def test_users_list_of_a_missing_file_says_so(tmp_path):
    missing = tmp_path / "missing.toml"
    result = envboard("users", "list", "--users", str(missing))
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.startswith(f"envboard: users file {missing} does not exist; create it with")


def test_users_rotate_without_the_servers_state_dir_says_it_ended_nothing_there(tmp_path):
    users = tmp_path / "users.toml"
    assert envboard("users", "add", "ann", "--role", "operator", "--users", str(users)).returncode == 0
    result = envboard(
        "users", "rotate", "ann", "--users", str(users), env={"XDG_STATE_HOME": str(tmp_path / "xdg")}
    )
    assert result.returncode == 0
    assert "0 browser sessions ended" not in result.stderr
    assert f"no server's sessions found in {tmp_path / 'xdg' / 'envboard'}" in result.stderr


@pytest.mark.slow
def test_list_says_why_a_project_lists_no_plugins_as_the_overview_row_does(tmp_path, uv_bin):
    from tests.conftest import uv

    root = write_workspace(tmp_path / "ws", ["bare"])
    bare = write_project(root / "bare", "bare", mode="persistent_uv", registry_modules=("bare_typo.*",))
    uv(uv_bin, "sync", cwd=bare)
    result = envboard("list", "--workspace", str(root), "--state-dir", str(tmp_path / "state"))
    assert result.returncode == 0, result.stderr
    notes = result.stdout.splitlines()[-2:]
    assert notes == ["bare: dagster not installed", "bare: registry_modules: bare_typo.* matched nothing"]
