"""Project code never reaches envboard's secrets: a teammate's plugin, imported by a real
probe under a really served envboard, looks for them and finds nothing."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from tests.conftest import ENTRY_GROUP, build_wheel, uv, wait_for, write_project, write_workspace
from webapp.core.access.users import add_user
from webapp.core.environments.confinement import Confinement, child_environment

METRICS_TOKEN = "metrics-token-that-project-code-must-not-see"

# What a hostile plugin module does when the probe imports it: everything it can find of
# envboard's (the state dir's files, the users file, envboard's settings and the metrics token
# in its own environment or in any process's it can read) is written to REPORT.
SNOOP = textwrap.dedent("""
    import json, os, pathlib

    found = {}
    for path in pathlib.Path(STATE).rglob("*"):
        try:
            found[str(path)] = path.read_bytes()[:64].hex() if path.is_file() else "folder"
        except OSError:
            pass
    try:
        found[USERS] = pathlib.Path(USERS).read_text()
    except OSError:
        pass
    markers = ("ENVBOARD_JOB", "ENVBOARD_CHECK")  # which job or check this is: no secret
    for name, value in os.environ.items():
        if (name.startswith("ENVBOARD_") and name not in markers) or TOKEN in value:
            found["env " + name] = value
    for entry in pathlib.Path("/proc").iterdir():
        try:
            if TOKEN.encode() in (entry / "environ").read_bytes():
                found["process " + entry.name] = "has the token"
        except OSError:
            pass
    pathlib.Path(REPORT).write_text(json.dumps(found))
""")


def snooping_project(
    tmp_path: Path,
    wheelhouse: Path,
    uv_bin: str,
    users: Path,
    report: Path,
    mode: str | None = "persistent_uv",
) -> Path:
    wheels = tmp_path / "snoop-wheels"
    header = (
        f"STATE = {str(tmp_path / 'state')!r}\nUSERS = {str(users)!r}\n"
        f"TOKEN = {METRICS_TOKEN!r}\nREPORT = {str(report)!r}\n"
    )
    wheel = build_wheel(
        wheels,
        "snoop-plugin",
        "1.0.0",
        {"snoop_plugin/__init__.py": header + SNOOP},
        entry_points={ENTRY_GROUP: {"snoop_plugin": "snoop_plugin"}},
    )
    root = write_workspace(tmp_path / "ws", ["team"])
    project = write_project(
        root / "team", "team", mode=mode, dependencies=("dagster",), wheelhouse=wheelhouse
    )
    uv(uv_bin, "sync", cwd=project)
    uv(uv_bin, "pip", "install", "--python", ".venv/bin/python", str(wheel), cwd=project)
    return root


def test_child_environment_keeps_what_tools_need_and_drops_envboards_settings():
    base = {
        "PATH": "/bin",
        "HOME": "/home/a",
        "LC_ALL": "C.UTF-8",
        "UV_INDEX_URL": "https://index.example/simple",
        "HTTPS_PROXY": "http://proxy:3128",
        "ENVBOARD_METRICS_TOKEN": "secret",
        "ENVBOARD_STATE_DIR": "/var/lib/envboard",
        "AWS_SECRET_ACCESS_KEY": "unrelated",
        "DATABASE_URL": "postgres://x",
    }
    env = child_environment(base, keep=("DATABASE_URL", "ENVBOARD_METRICS_TOKEN"))
    assert env == {
        "PATH": "/bin",
        "HOME": "/home/a",
        "LC_ALL": "C.UTF-8",
        "UV_INDEX_URL": "https://index.example/simple",
        "HTTPS_PROXY": "http://proxy:3128",
        "DATABASE_URL": "postgres://x",  # named with --pass-env; ENVBOARD_* never is
    }


@pytest.mark.slow
def test_a_teammates_plugin_finds_none_of_envboards_secrets(tmp_path, wheelhouse, uv_bin, live_server):
    if Confinement.decide([]).bwrap is None:
        pytest.skip(Confinement.decide([]).bwrap_problem)
    users = tmp_path / "users.toml"
    add_user(users, "alice", "operator")
    report = tmp_path / "found.json"
    root = snooping_project(tmp_path, wheelhouse, uv_bin, users, report)
    live_server(root, "--users", str(users), env={"ENVBOARD_METRICS_TOKEN": METRICS_TOKEN})
    # the monitor probes every project at start: nobody has to click for the plugin to run
    found = json.loads(wait_for(lambda: report.is_file() and report.read_text(), timeout=60))
    assert found == {}
    assert (tmp_path / "state" / "secret_key").is_file()  # there to be found, had it been visible


def test_without_a_sandbox_or_job_user_the_pages_and_the_api_say_so(tmp_path, make_app, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "no-tools"))  # no bwrap to be found
    root = write_workspace(tmp_path / "ws", ["act"])
    write_project(root / "act", "act")
    client = make_app(root).test_client()
    isolation = client.get("/api/projects").get_json()["isolation"]
    assert isolation["isolated"] is False and "bwrap is not installed" in isolation["notice"]
    assert client.get("/api/projects/act").get_json()["isolation"] == isolation
    for path in ("/", "/projects/act"):
        page = client.get(path).get_data(as_text=True)
        assert 'id="isolation-notice"' in page and "can act as an operator" in page


def test_with_bubblewrap_the_pages_show_no_warning(tmp_path, make_app):
    if Confinement.decide([]).bwrap is None:
        pytest.skip(Confinement.decide([]).bwrap_problem)
    root = write_workspace(tmp_path / "ws", ["act"])
    write_project(root / "act", "act")
    client = make_app(root).test_client()
    assert client.get("/api/projects").get_json()["isolation"]["sandbox"] == "bubblewrap"
    assert 'id="isolation-notice"' not in client.get("/").get_data(as_text=True)


@pytest.mark.slow
def test_the_state_dir_is_its_users_alone(tmp_path, live_server):
    """The history, the job logs and the signing key: folder 0700, files 0600, even where the
    folder was made before with a default umask (0755). Another Unix user cannot list or read
    them (the modes are what the kernel checks; this box's tmp_path is 0700 already, so a
    second user's attempt here would prove nothing about envboard)."""
    import stat
    import urllib.request

    users = tmp_path / "users.toml"
    token = add_user(users, "alice", "operator")
    root = write_workspace(tmp_path / "ws", ["uvp"])
    write_project(root / "uvp", "uvp", mode="persistent_uv")
    state = tmp_path / "state"
    state.mkdir(mode=0o755)
    state.chmod(0o755)
    url = live_server(root, "--users", str(users))
    sync = urllib.request.Request(
        url + "/projects/uvp/sync", method="POST", headers={"Authorization": f"Bearer {token}"}
    )
    urllib.request.urlopen(sync).read()
    logs = wait_for(lambda: list((state / "logs").glob("*.log")), timeout=30)
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    for path in (state / "envboard.sqlite3", state / "secret_key", *logs):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


JOB_USER = "envboard-job"


@pytest.fixture
def job_user():
    """A real second Unix user."""
    import pwd

    if os.geteuid() != 0:
        pytest.skip("switching to a job user needs envboard to run as root")
    if not Path("/usr/bin/python3").is_file():
        pytest.skip("the job user needs an interpreter outside root's home: /usr/bin/python3")
    try:
        pwd.getpwnam(JOB_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", JOB_USER], check=True)
    return pwd.getpwnam(JOB_USER)


@pytest.fixture
def job_tmp(job_user):
    """A folder the job user can pass through (0711), outside pytest's own.

    Not tmp_path with its parents opened: pytest makes /tmp/pytest-of-<user> 0700 again
    whenever any pytest starts on the machine (another engineer's run, say), so the job
    user lost its way to the project at random moments: uv could not be started, or the
    probe ran in an interpreter other than the project's (about 1 run in 6 on a busy box).
    """
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="envboard-job-user-"))
    folder.chmod(0o711)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["persistent_uv", "active"])
def test_as_root_with_a_job_user_the_plugin_finds_none_of_envboards_secrets(
    tmp_path, wheelhouse, uv_bin, live_server, job_user, job_tmp, monkeypatch, mode
):
    monkeypatch.setenv("UV_PYTHON", "/usr/bin/python3")  # root's own interpreter is in a 0700 home
    # the state dir and the users file where the job user could reach them but for their modes
    state = job_tmp / "state"
    users = job_tmp / "users.toml"
    token = add_user(users, "alice", "operator")
    users.chmod(0o600)
    out = job_tmp / "out"
    out.mkdir()
    report = out / "found.json"
    # persistent_uv: the probe is `uv run --no-sync` as the job user; active: the project's
    # interpreter itself, as the job user
    root = snooping_project(
        job_tmp, wheelhouse, uv_bin, users, report, mode=None if mode == "active" else mode
    )
    uv_cache = job_tmp / "job-uv-cache"
    uv_cache.mkdir()
    for path in (root, out, uv_cache):
        subprocess.run(["chown", "-R", f"{job_user.pw_uid}:{job_user.pw_gid}", str(path)], check=True)
    tools = job_tmp / "tools"  # no bubblewrap here; a uv the job user may run (root's home is 0700)
    tools.mkdir()
    shutil.copy2(uv_bin, tools / "uv")
    env = {"ENVBOARD_METRICS_TOKEN": METRICS_TOKEN, "UV_CACHE_DIR": str(uv_cache), "PATH": str(tools)}
    python = root / "team" / ".venv" / "bin" / "python"
    options = ("--users", str(users), "--job-user", JOB_USER, "--uv", str(tools / "uv"))
    options += ("--state-dir", str(state))  # the last one counts
    if mode == "active":
        options += ("--active-python", str(python))
    url = live_server(root, *options, env=env)
    try:
        found = json.loads(wait_for(lambda: report.is_file() and report.read_text(), timeout=60))
    except AssertionError:  # say why the plugin never ran
        import urllib.request

        ask = urllib.request.Request(url + "/api/projects/team", headers={"Authorization": f"Bearer {token}"})
        raise AssertionError(json.loads(urllib.request.urlopen(ask).read())["plugins"]) from None
    assert found == {}
    assert report.stat().st_uid == job_user.pw_uid  # the plugin really ran, as the job user


def test_a_users_file_the_job_user_can_read_is_named_on_the_page(tmp_path, job_user):
    from webapp.core.environments.confinement import JobUser

    users = tmp_path / "users.toml"
    add_user(users, "alice", "operator")
    users.chmod(0o644)
    confinement = Confinement((users,), JobUser.named(JOB_USER), None, "bwrap is not installed")
    assert not confinement.isolated and str(users) in confinement.notice
    users.chmod(0o600)
    assert Confinement((users,), JobUser.named(JOB_USER)).notice is None


def _a_project_and_its_homes_for_the_job_user(tmp_path):
    """A scanned project, and the Dagster homes envboard (root) makes for its checks as the job user."""
    from webapp.core.environments.confinement import JobUser
    from webapp.core.probe.homes import DagsterHomes
    from webapp.core.workspace.scan import scan_workspace

    root = write_workspace(tmp_path / "ws", ["p"])
    write_project(root / "p", "p")
    return scan_workspace(root).projects[0], DagsterHomes(Confinement((), JobUser.named(JOB_USER)))


def test_the_load_checks_dagster_homes_are_the_job_users_to_write_and_kept(tmp_path, job_user):
    """Dagster writes its instance's storage into DAGSTER_HOME: the job user who runs the check
    must be able to, and the home is kept for the project's next check (it pays that once)."""
    project, homes = _a_project_and_its_homes_for_the_job_user(tmp_path)
    try:
        with homes.lend(project, "env") as home:
            storage = home / "history" / "runs.db"
            script = (
                f"import os; os.makedirs({str(storage.parent)!r}); open({str(storage)!r}, 'w').write('x')"
            )
            as_job_user = {"user": job_user.pw_uid, "group": job_user.pw_gid, "extra_groups": []}
            written = subprocess.run(
                ["/usr/bin/python3", "-c", script], capture_output=True, text=True, **as_job_user
            )
            assert written.returncode == 0, written.stderr
        with homes.lend(project, "env") as again:
            assert again == home and storage.is_file()  # the next check finds Dagster's storage made
    finally:
        homes.remove()
    assert not home.exists()


def test_project_code_cannot_plant_a_name_where_envboard_makes_the_next_dagster_home(tmp_path, job_user):
    """envboard (root here) makes each home, writes its dagster.yaml and hands it over: were the
    folder holding them the job user's, project code could put a symlink where the next home is
    made, and root would write and chown through it. The job user passes through to its homes only."""
    project, homes = _a_project_and_its_homes_for_the_job_user(tmp_path)
    try:
        with homes.lend(project, "env") as home:
            folder = home.parent
            script = f"import os; os.symlink('/etc/passwd', {str(folder / 'home-2')!r})"
            as_job_user = {"user": job_user.pw_uid, "group": job_user.pw_gid, "extra_groups": []}
            planted = subprocess.run(
                ["/usr/bin/python3", "-c", script], capture_output=True, text=True, **as_job_user
            )
            listed = subprocess.run(
                ["/usr/bin/python3", "-c", f"import os; print(os.listdir({str(folder)!r}))"],
                capture_output=True,
                text=True,
                **as_job_user,
            )
        assert "PermissionError" in planted.stderr and not (folder / "home-2").is_symlink()
        assert listed.returncode != 0  # nor does it learn the other projects' homes' names
        assert folder.stat().st_uid == os.geteuid()
    finally:
        homes.remove()


def test_whether_bubblewrap_runs_is_asked_once_per_binary_not_once_per_board(tmp_path, monkeypatch):
    """Every app, command and board of a process needs the answer; the binary is asked once,
    and asked again when another binary is at that path."""
    tools, starts = tmp_path / "tools", tmp_path / "starts"
    tools.mkdir()
    bwrap = tools / "bwrap"
    bwrap.write_text(
        f"#!/bin/sh\necho started >> {starts}\necho 'No permissions to create new namespace' >&2\nexit 1\n"
    )
    bwrap.chmod(0o755)
    monkeypatch.setenv("PATH", str(tools))
    for _ in range(3):
        confinement = Confinement.decide([tmp_path / "state"])
        assert confinement.bwrap is None and "No permissions to create new namespace" in confinement.notice
    assert starts.read_text().splitlines() == ["started"]
    bwrap.write_text(f"#!/bin/sh\necho started again >> {starts}\nexit 0\n")  # bubblewrap installed anew
    assert Confinement.decide([tmp_path / "state"]).bwrap == str(bwrap)
    assert starts.read_text().splitlines() == ["started", "started again"]
