"""The command line as a person meets it: real `envboard` processes, their exit codes and words."""

import json
import os
import pty
import re
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import write_project, write_workspace

REPO = Path(__file__).resolve().parent.parent


def envboard(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 120):
    environment = {k: v for k, v in os.environ.items() if k != "ENVBOARD_WORKSPACE"}
    environment.update({"PYTHONPATH": str(REPO), **(env or {})})
    return subprocess.run(
        [sys.executable, "-m", "webapp", *args],
        cwd=cwd or REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


COMMANDS = [["list"], ["serve", "--port", "0"], ["sync", "alpha"], ["mode", "alpha", "active", "--yes"]]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_a_workspace_that_does_not_exist_fails_at_once_naming_it(tmp_path, command):
    missing = tmp_path / "no-such-folder"
    result = envboard(*command, "--workspace", str(missing), "--state-dir", str(tmp_path / "s"))
    assert result.returncode == 2
    assert result.stderr.strip() == f"envboard: --workspace {missing} does not exist"
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_a_workspace_that_is_a_file_says_which_folder_to_pass(tmp_path, command):
    root = write_workspace(tmp_path / "ws", ["alpha"])
    result = envboard(*command, "--workspace", str(root / "dg.toml"), "--state-dir", str(tmp_path / "s"))
    assert result.returncode == 2
    assert f"--workspace {root / 'dg.toml'} is a file, not a folder" in result.stderr
    assert f"pass the folder that holds it: --workspace {root}" in result.stderr


def test_the_variable_is_named_when_it_is_the_variable_that_is_wrong(tmp_path):
    result = envboard("list", env={"ENVBOARD_WORKSPACE": str(tmp_path / "gone")}, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == f"envboard: ENVBOARD_WORKSPACE {tmp_path / 'gone'} does not exist"


def test_a_folder_without_projects_says_how_envboard_looks_and_what_to_pass(tmp_path):
    (tmp_path / "empty").mkdir()
    for command in (["list"], ["serve", "--port", "0"]):
        result = envboard(
            *command, "--workspace", str(tmp_path / "empty"), "--state-dir", str(tmp_path / "s")
        )
        assert result.returncode == 2
        assert f"no dg projects in {tmp_path / 'empty'}" in result.stderr
        assert "pyproject.toml with a [tool.dg] table" in result.stderr
        assert "Pass --workspace DIR" in result.stderr


def test_from_a_folder_inside_a_project_of_a_workspace_the_workspace_is_found(tmp_path):
    root = write_workspace(tmp_path / "ws", ["projects/alpha", "projects/beta"])
    write_project(root / "projects" / "alpha", "alpha")
    write_project(root / "projects" / "beta", "beta")
    inside = root / "projects" / "alpha" / "src" / "deep"
    inside.mkdir(parents=True)
    result = envboard("list", "--json", "--state-dir", str(tmp_path / "s"), cwd=inside)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["workspace"] == str(root)
    assert [p["id"] for p in report["projects"]] == ["projects-alpha", "projects-beta"]


def test_from_a_repository_root_it_names_the_workspace_below(tmp_path):
    repo = tmp_path / "repo"
    root = write_workspace(repo / "examples" / "workspace", ["alpha"])
    write_project(root / "alpha", "alpha")
    result = envboard("list", "--state-dir", str(tmp_path / "s"), cwd=repo)
    assert result.returncode == 2
    assert "did you mean --workspace examples/workspace?" in result.stderr


def test_the_help_says_how_the_workspace_is_found():
    result = envboard("list", "--help")
    assert result.returncode == 0
    assert "the way dg finds it, walking up" in " ".join(result.stdout.split())


# what only a server, a look at the workspace or a job needs
HEAVY = ("flask", "waitress", "psutil", "filelock", "webapp.web", "webapp.serving", "webapp.core.app")
HEAVY_PACKAGES = ("webapp.core.live", "webapp.core.jobs", "webapp.core.probe", "webapp.core.environments")
RUN_AND_LIST_MODULES = """
import sys
from webapp.cli import main
code = main(sys.argv[2:])
with open(sys.argv[1], "w") as listing:
    listing.write("\\n".join(sorted(sys.modules)))
sys.exit(code)
"""


def test_help_and_the_users_commands_start_without_the_server_or_the_board(tmp_path):
    """Start-up is what a person waits for on every light command: it loads no Flask, waitress,
    psutil, board, jobs or launcher (each command imports the core it runs, when it runs)."""
    users = str(tmp_path / "users.toml")
    env = {**os.environ, "PYTHONPATH": str(REPO), "XDG_STATE_HOME": str(tmp_path / "xdg")}
    for command in (
        ["--help"],
        ["--version"],
        ["serve", "--help"],
        ["upgrade", "--help"],
        ["users", "add", "ann", "--role", "operator", "--users", users],
        ["users", "list", "--users", users],
        ["users", "remove", "ann", "--users", users],
    ):
        listing = tmp_path / "modules.txt"
        result = subprocess.run(
            [sys.executable, "-c", RUN_AND_LIST_MODULES, str(listing), *command],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        loaded = listing.read_text().split()
        heavy = [m for m in loaded if m.split(".")[0] in HEAVY or m in HEAVY or m.startswith(HEAVY_PACKAGES)]
        assert heavy == [], f"envboard {' '.join(command)} loaded {heavy}"
    assert envboard("users", "list", "--users", users).stdout.startswith("no users in")  # they did their work


def test_a_busy_port_is_one_line_and_exit_2(tmp_path):
    root = write_workspace(tmp_path / "ws", ["alpha"])
    write_project(root / "alpha", "alpha")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = envboard(
            "serve", "--workspace", str(root), "--port", str(port), "--state-dir", str(tmp_path / "s")
        )
    assert result.returncode == 2
    assert result.stderr == f"envboard: port {port} is in use; pass --port\n"


def test_version_and_bare_command():
    from webapp import __version__

    version = envboard("--version")
    assert (version.returncode, version.stdout.strip()) == (0, f"envboard {__version__}")
    bare = envboard()
    assert bare.returncode == 0
    assert bare.stdout.lower().startswith("usage: envboard")
    assert "serve" in bare.stdout and "Traceback" not in bare.stderr


@pytest.fixture
def synced_project(tmp_path, wheelhouse):
    return write_project(
        tmp_path / "proj",
        "proj",
        mode="persistent_uv",
        dependencies=("dagster", "acme-plugin"),
        wheelhouse=wheelhouse,
    )


def test_sync_into_a_pipe_has_no_escape_codes(tmp_path, synced_project):
    result = envboard("sync", "proj", "--workspace", str(synced_project), "--state-dir", str(tmp_path / "s"))
    assert result.returncode == 0, result.stderr
    assert "Installed" in result.stdout and "acme-plugin" in result.stdout
    assert "\x1b" not in result.stdout


def _on_a_terminal(args: list[str], cwd: Path, env: dict) -> str:
    """Run with stdout on a pseudo-terminal; what it printed there."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "webapp", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(REPO), **env},
        stdout=follower,
        stderr=subprocess.DEVNULL,
    )
    os.close(follower)
    output = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closed with the process
            break
        if not chunk:
            break
        output += chunk
    process.wait(timeout=120)
    os.close(leader)
    return output.decode("utf-8", errors="replace")


def test_sync_on_a_terminal_keeps_uvs_colours_unless_no_color(tmp_path, synced_project):
    args = ["sync", "proj", "--workspace", str(synced_project), "--state-dir", str(tmp_path / "s")]
    coloured = _on_a_terminal(args, tmp_path, {})
    assert "acme-plugin" in coloured and "\x1b[" in coloured
    (synced_project / ".venv").rename(tmp_path / "old-venv")  # so that the second sync installs again
    plain = _on_a_terminal(args, tmp_path, {"NO_COLOR": "1"})
    assert "acme-plugin" in plain and "\x1b" not in plain


def test_serve_on_port_0_announces_the_port_it_really_listens_on(tmp_path):
    root = write_workspace(tmp_path / "ws", ["alpha"])
    write_project(root / "alpha", "alpha")
    process = subprocess.Popen(
        [sys.executable, "-m", "webapp", "serve", "--workspace", str(root), "--port", "0"]
        + ["--state-dir", str(tmp_path / "s")],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        said = ""
        for line in process.stdout:  # until it says where it serves (or ends)
            said += line
            if "serving on" in line:
                break
        address = re.search(r"serving on (http://127\.0\.0\.1:(\d+)/)", said)
        assert address and address.group(2) != "0", said
        with urllib.request.urlopen(address.group(1) + "healthz", timeout=30) as answer:
            assert answer.status == 200
    finally:
        process.terminate()
        process.wait(timeout=60)
        process.stdout.close()
