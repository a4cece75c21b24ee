"""The command line on a team's server: who the history names, and a mode change that offers its sync."""

import json
import os
import pwd

import pytest

from tests.conftest import uv, write_project, write_slow_project, write_workspace
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


# each bad flag: the words the one-line error must hold (the flag or argument, the value, what is allowed)
BAD_FLAGS = [
    (["serve", "--port", "99999"], ["--port", "99999", "65535"]),
    (["serve", "--port", "http"], ["--port", "'http'", "integer"]),
    (["serve", "--max-jobs", "0"], ["--max-jobs", "0", ">=1"]),
    (["serve", "--threads", "0"], ["--threads", "0", ">=1"]),
    (["serve", "--connection-limit", "-5"], ["--connection-limit", "-5", ">=1"]),
    (["serve", "--public-url", "notaurl"], ["--public-url", "'notaurl'", "is not a URL such as https://"]),
    (["serve", "--dagster-url", "http://admin:hunter2@dagster:3000"], ["--dagster-url", "user or password"]),
    (["serve", "--dagster-url", "http://dagster:3000/?x=1"], ["--dagster-url", "without a query"]),
    (["serve", "--session-idle", "soon"], ["--session-idle", "'soon'", "is not a duration"]),
    (["serve", "--trusted-proxy", "proxy.example"], ["--trusted-proxy", "'proxy.example'", "IP address"]),
    (["serve", "--log-format", "xml"], ["--log-format", "'xml'", "'text'", "'json'"]),
    (["serve", "--no-such-flag"], ["--no-such-flag"]),
    (["serve", "--session-idle", "8d"], ["--session-idle is longer than --session-max-age"]),
    (["serve", "--trust-proxy-user-header", "X-User"], ["needs --trusted-proxy ADDR"]),
    (["mode", "alpha", "sideways"], ["MODE", "'sideways'", "'active'", "'persistent_uv'", "'remove-key'"]),
    (["mode", "alpha"], ["MODE"]),
    (["cache"], ["command"]),
    (["users", "list", "--users", "u.toml", "--colour"], ["--colour"]),
    (["users", "list"], ["--users"]),
    (["list", "--state-dir", "README.md"], ["--state-dir", "README.md", "is a file"]),
    (["serve", "--users", "tests"], ["--users", "tests", "is a directory"]),
    (["upgrade", "dagster"], ["--plan", "--apply"]),
]


def one_error_under_the_usage(result, subcommand: str) -> str:
    """The error line of a refused command line, checked to be alone under that subcommand's usage."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[0].lower().startswith(f"usage: envboard {subcommand} "), result.stderr
    assert lines[-1].lower().startswith("error: "), result.stderr
    return lines[-1]


@pytest.mark.parametrize(("command", "words"), BAD_FLAGS, ids=lambda value: " ".join(value)[:40])
def test_a_bad_flag_is_one_line_under_its_subcommands_usage_and_exit_2(tmp_path, command, words):
    result = envboard(*command, env={"ENVBOARD_USERS": ""})
    subcommand = " ".join(
        word for word in command[:2] if not word.startswith("-") and word not in ("alpha", "dagster")
    )
    error = one_error_under_the_usage(result, subcommand)
    assert all(word in error for word in words), error
    # no internal names of the code behind the flags
    assert not any(name in result.stderr for name in ("target", "cache_command", "references", "as_json"))


def test_an_environment_variable_is_checked_like_its_flag_and_named(tmp_path):
    for variable, value, flag in (
        ("ENVBOARD_PORT", "99999", "--port"),
        ("ENVBOARD_MAX_JOBS", "0", "--max-jobs"),
        ("ENVBOARD_PUBLIC_URL", "notaurl", "--public-url"),
        ("ENVBOARD_ALLOW_ANONYMOUS_VIEW", "maybe", "--allow-anonymous-view"),
        ("ENVBOARD_TRUSTED_PROXY", "10.0.0.1,proxy.example", "--trusted-proxy"),
    ):
        result = envboard("serve", env={variable: value})
        error = one_error_under_the_usage(result, "serve")
        assert flag in error and variable in error, error


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
def test_list_shows_the_others_at_once_and_what_a_slow_project_is_still_running(tmp_path, uv_bin):
    root = write_workspace(tmp_path / "ws", ["quick", "slow"])
    write_project(root / "quick", "quick", mode="persistent_uv")
    write_slow_project(root / "slow", slow_status=True)  # uv's status check builds it: until released
    for name in ("quick", "slow"):
        uv(uv_bin, "venv", cwd=root / name)
    release = tmp_path / "release"
    env = {
        "SLOW_BUILD_SECONDS": "600",
        "SLOW_BUILD_RELEASE": str(release),
        "ENVBOARD_PASS_ENV": "SLOW_BUILD_SECONDS,SLOW_BUILD_RELEASE",
        "UV_NO_CACHE": "1",
    }
    common = ("--workspace", str(root), "--state-dir", str(tmp_path / "state"))
    try:
        # the quick project's checks must be done within it, even on a loaded box (2 s was not, at 13)
        result = envboard("list", "--no-cache", "--deadline", "10", *common, env=env)
    finally:
        release.touch()
    assert result.returncode == 0, result.stderr
    rows = {
        cells[0]: cells
        for cells in map(str.split, result.stdout.splitlines())
        if cells[:1] in (["quick"], ["slow"])
    }
    assert rows["quick"][2] in ("in_sync", "out_of_sync") and rows["quick"][6] != "-"  # checked and probed
    assert rows["slow"][2] == "checking"
    assert "slow: still checking after 10 s: uv sync --check (running " in result.stdout
    # the check cut short when the command ended is not remembered as the slow project's status
    again = json.loads(envboard("list", "--json", *common, env=env).stdout)
    slow = next(p for p in again["projects"] if p["id"] == "slow")["environment"]
    assert (slow["status"], [change["name"] for change in slow["drift"]]) == ("out_of_sync", ["slowpkg"]), (
        slow
    )


def test_a_choice_of_one_call_reads_no_variable(tmp_path):
    root = write_workspace(tmp_path / "ws", ["alpha"])
    write_project(root / "alpha", "alpha")
    result = envboard(
        "mode",
        "alpha",
        "persistent_uv",
        "--workspace",
        str(root),
        "--state-dir",
        str(tmp_path / "s"),
        env={"ENVBOARD_YES": "1", "ENVBOARD_SYNC": "1"},
    )
    assert (result.returncode, result.stderr) == (
        2,
        "envboard: not writing without --yes (no terminal to ask)\n",
    )
    assert "persistent_uv" not in (root / "alpha" / "pyproject.toml").read_text()


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
