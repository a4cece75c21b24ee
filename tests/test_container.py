"""The image from the Dockerfile, built and run in a real engine (podman with runc).

No image registry is reachable where these tests run, so the base image
`python:3.12-slim` is a stand-in bootstrapped from Debian's packages by
`.ci/container-base` (which `.ci/run` calls). Podman reads `.ci/containers.conf`.
Where no engine can run, the tests skip with the engine's own words; `.ci/run` sets
ENVBOARD_CONTAINER_REQUIRED=1 once it has set the engine up, and then a skip is a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import free_port, wait_for, write_slow_project, write_workspace

pytestmark = pytest.mark.container

ROOT = Path(__file__).resolve().parent.parent
BASE_IMAGE = "python:3.12-slim"
CONTAINER_UID = 10001  # the Dockerfile's `envboard` user: the server
JOB_UID = 10002  # its `envboard-jobs` user: project code
# what the server keeps of root: setuid, setgid (to start project code as the job user), chown
# (the probe's scratch folder), kill (the job user's processes); nothing else
SERVER_CAPABILITIES = f"{(1 << 0) | (1 << 5) | (1 << 6) | (1 << 7):016x}"
STATE = "/var/lib/envboard"


def _skip(reason: str) -> None:
    if os.environ.get("ENVBOARD_CONTAINER_REQUIRED"):
        pytest.fail(f"the container engine was set up but cannot be used: {reason}")
    pytest.skip(reason)


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"


@dataclass(frozen=True)
class Podman:
    executable: str
    env: dict[str, str]

    def run(self, *args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [self.executable, *args], env=self.env, capture_output=True, text=True, timeout=timeout
        )
        if check and result.returncode != 0:
            raise AssertionError(f"podman {' '.join(args)} exited {result.returncode}: {result.stderr}")
        return result


@pytest.fixture(scope="module")
def podman() -> Podman:
    executable = shutil.which("podman")
    if executable is None:
        _skip("podman is not installed (apt-get install podman runc debootstrap; .ci/run does)")
    engine = Podman(executable, {**os.environ, "CONTAINERS_CONF": str(ROOT / ".ci" / "containers.conf")})
    if engine.run("image", "exists", BASE_IMAGE, check=False).returncode != 0:
        _skip(
            f"no {BASE_IMAGE} image: no image registry is reachable, and .ci/container-base "
            "(run by .ci/run) has not bootstrapped its stand-in from Debian's packages"
        )
    trial = engine.run("run", "--rm", BASE_IMAGE, "true", check=False)
    if trial.returncode != 0:
        _skip(f"podman cannot run a container here: {_last_line(trial.stderr)}")
    return engine


@pytest.fixture(scope="module")
def image(podman) -> str:
    """The image built from the Dockerfile (docker format, so that HEALTHCHECK is kept)."""
    tag = f"localhost/envboard-test:{uuid.uuid4().hex[:12]}"
    build = podman.run("build", "--format", "docker", "-t", tag, str(ROOT), timeout=900, check=False)
    assert build.returncode == 0, build.stdout[-4000:] + build.stderr[-4000:]
    yield tag
    podman.run("rmi", "-f", tag, check=False)


def _give_to_container_user(path: Path, podman: Podman, uid: int = CONTAINER_UID) -> None:
    """What the container's server (or its job user, `uid`) must read or write belongs to that uid;
    the job user's is group-writable, for the server in its group."""
    if os.geteuid() == 0:
        for name in [path, *(Path(f) / n for f, dirs, files in os.walk(path) for n in dirs + files)]:
            os.chown(name, uid, uid, follow_symlinks=False)
            if uid == JOB_UID and not name.is_symlink():
                name.chmod(name.stat().st_mode | 0o070)
    else:  # rootless podman: the container's uids are mapped; chown inside its user namespace
        podman.run("unshare", "chown", "-R", f"{uid}:{uid}", str(path))
        if uid == JOB_UID:
            podman.run("unshare", "chmod", "-R", "g+rwX", str(path))


@dataclass
class Site:
    """A workspace with one slow project, a users file with an operator, and a state folder."""

    workspace: Path
    state: Path
    users: Path
    token: str


@pytest.fixture
def site(tmp_path, podman) -> Site:
    workspace = write_workspace(tmp_path / "ws", ["slow"])
    write_slow_project(workspace / "slow")
    state = tmp_path / "state"
    state.mkdir()
    users = tmp_path / "users.toml"
    added = subprocess.run(
        [
            sys.executable,
            "-m",
            "webapp",
            "users",
            "add",
            "alice",
            "--role",
            "operator",
            "--users",
            str(users),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    _give_to_container_user(workspace, podman, JOB_UID)
    for path in (state, users):
        _give_to_container_user(path, podman)
    return Site(workspace, state, users, added.stdout.strip())


@dataclass
class Container:
    podman: Podman
    id: str
    url: str

    def logs(self) -> str:
        result = self.podman.run("logs", self.id, check=False)
        return result.stdout + result.stderr

    def exec(self, *argv: str) -> str:
        return self.podman.run("exec", self.id, *argv).stdout

    def state(self, field: str) -> str:
        return self.podman.run("inspect", "--format", f"{{{{.State.{field}}}}}", self.id).stdout.strip()


@pytest.fixture
def start_container(podman, image):
    started: list[str] = []

    def start(site: Site, *extra: str) -> Container:
        port = free_port()
        result = podman.run(
            "run",
            "--detach",
            "--publish",
            f"127.0.0.1:{port}:8765",
            "--volume",
            f"{site.workspace}:/workspace",
            "--volume",
            f"{site.state}:{STATE}",
            "--volume",
            f"{site.users}:/etc/envboard/users.toml:ro",
            # the slow project's build backend sleeps; uv works offline with the image's Python
            "--env",
            "SLOW_BUILD_SECONDS=120",
            "--env",
            "ENVBOARD_PASS_ENV=SLOW_BUILD_SECONDS",  # beyond the allow-list, to the build backend
            "--env",
            "UV_OFFLINE=1",
            "--env",
            "UV_PYTHON_DOWNLOADS=never",
            *extra,
            image,
        )
        container = Container(podman, result.stdout.strip(), f"http://127.0.0.1:{port}")
        started.append(container.id)

        def healthy():
            if container.state("Status") != "running":
                raise AssertionError(f"the container stopped:\n{container.logs()}")
            try:
                return urllib.request.urlopen(container.url + "/healthz", timeout=2).status == 200
            except OSError:
                return False

        wait_for(healthy, timeout=60, interval=0.2)
        return container

    yield start
    for container_id in started:
        podman.run("rm", "--force", "--time", "0", container_id, check=False)


def _request(url: str, token: str | None = None, method: str = "GET") -> tuple[int, bytes, dict]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(url, method=method, headers=headers)
    opener = urllib.request.build_opener(_NoRedirect())
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read(), dict(error.headers)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def test_serves_health_as_uid_10001_with_bearer_tokens_and_json_logs(site, start_container):
    container = start_container(site)

    status, body, _ = _request(container.url + "/healthz")
    assert status == 200
    process = container.exec("cat", "/proc/1/status", "/proc/1/cmdline")
    uids = next(line for line in process.splitlines() if line.startswith("Uid:")).split()[1:]
    assert uids == [str(CONTAINER_UID)] * 4, "PID 1 (envboard) runs as the non-root user"
    capabilities = dict(line.split(":\t") for line in process.splitlines() if line.startswith("Cap"))
    assert capabilities["CapEff"] == SERVER_CAPABILITIES, capabilities
    assert capabilities["CapAmb"] == "0" * 16, "what envboard starts would inherit its capabilities"
    assert "envboard\0serve" in process

    assert _request(container.url + "/api/projects")[0] == 401
    status, body, _ = _request(container.url + "/api/projects", site.token)
    assert status == 200
    assert [project["id"] for project in json.loads(body)["projects"]] == ["slow"]

    def logged_as_alice():  # the access log is written in batches, off the requests' path
        access = [json.loads(line) for line in container.logs().splitlines() if line.startswith("{")]
        return any(entry.get("path") == "/api/projects" and entry.get("user") == "alice" for entry in access)

    wait_for(logged_as_alice, timeout=30)
    assert container.podman.run("healthcheck", "run", container.id, check=False).returncode == 0


def test_refuses_to_start_without_a_users_file(site, podman, image):
    # ENVBOARD_USERS emptied: the server would bind 0.0.0.0 with nobody signed in
    refused = podman.run("run", "--rm", "--env", "ENVBOARD_USERS=", image, timeout=60, check=False)
    assert refused.returncode == 2
    assert "refusing to bind 0.0.0.0 without a users file" in refused.stderr
    # the image's default users file path, but nothing mounted there
    missing = podman.run("run", "--rm", image, timeout=60, check=False)
    assert missing.returncode == 2
    assert "users file /etc/envboard/users.toml cannot be read" in missing.stderr
    # a users file the container's user may not read (as `envboard users add` writes it: 0600)
    unreadable = site.users.with_name("root-only.toml")
    unreadable.write_bytes(site.users.read_bytes())
    unreadable.chmod(0o600)
    mount = f"{unreadable}:/etc/envboard/users.toml:ro"
    denied = podman.run("run", "--rm", "--volume", mount, image, timeout=60, check=False)
    assert denied.returncode == 2
    assert (
        "users file /etc/envboard/users.toml cannot be read: Permission denied (envboard runs as uid 10001)"
        in denied.stderr
    )


def test_podman_stop_is_clean_and_fast_with_a_sync_running(site, start_container):
    container = start_container(site)
    status, _, headers = _request(container.url + "/projects/slow/sync", site.token, method="POST")
    assert status == 303, status
    job_id = headers["Location"].rsplit("/", 1)[1]
    log_path = site.state / "logs" / f"{job_id}.log"
    wait_for(lambda: log_path.exists() and "Building" in log_path.read_text(), timeout=60)
    before = log_path.read_text()

    container.podman.run("stop", "--time", "10", container.id, timeout=30)
    # 0, not 137: envboard ended on podman's SIGTERM within its grace, before podman's SIGKILL
    # (a bound on the seconds it took failed at a load of 13: 3.1 s)
    assert container.state("ExitCode") == "0", container.logs()
    assert "SIGTERM received, stopping" in container.logs()
    with sqlite3.connect(site.state / "envboard.sqlite3") as db:
        status, message = db.execute("SELECT status, message FROM jobs WHERE id = ?", (job_id,)).fetchone()
    assert status == "interrupted", message
    text = log_path.read_text()
    assert text.startswith(before)
    assert text.rstrip().splitlines()[-1] == "[envboard] interrupted: the server was stopped"


SPY_BACKEND = """
def _report():
    status = open("/proc/self/status").read().splitlines()
    seen = [line.replace("\\t", " ") for line in status if line.startswith(("Uid:", "CapEff:", "CapPrm:"))]
    for secret in ("/var/lib/envboard/secret_key", "/etc/envboard/users.toml"):
        try:
            open(secret).read()
            seen.append(f"{secret}: READ")
        except OSError as exc:
            seen.append(f"{secret}: {type(exc).__name__}")
    raise SystemExit("spy: " + " | ".join(seen))

def get_requires_for_build_wheel(config_settings=None):
    return []

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    _report()

get_requires_for_build_editable = get_requires_for_build_wheel
build_editable = build_wheel
"""


@pytest.mark.parametrize("job_user", ["image default", "none"])
def test_project_code_runs_as_the_job_user_without_the_servers_capabilities(
    site, podman, start_container, job_user
):
    spy = site.workspace / "spy"
    spy.mkdir()
    (spy / "spy_backend.py").write_text(SPY_BACKEND)
    (spy / "pyproject.toml").write_text(
        '[project]\nname = "spy"\nversion = "0.1.0"\nrequires-python = ">=3.9"\ndependencies = []\n\n'
        '[build-system]\nrequires = []\nbuild-backend = "spy_backend"\nbackend-path = ["."]\n\n'
        '[tool.dg]\ndirectory_type = "project"\n\n[tool.dg.project]\nroot_module = "spy"\n'
        'python_environment = "persistent_uv"\n'
    )
    with (site.workspace / "dg.toml").open("a") as workspace_toml:
        workspace_toml.write('\n[[workspace.projects]]\npath = "spy"\n')
    # with the job user emptied, project code runs as the server's user: still without its capabilities
    uid = JOB_UID if job_user == "image default" else CONTAINER_UID
    _give_to_container_user(site.workspace, podman, uid)
    # (the image's uv cache is the job user's: without one, uv needs a cache of the server's)
    alone = [
        "--env",
        "ENVBOARD_JOB_USER=",
        "--env",
        "UV_CACHE_DIR=/tmp/uv",
        "--env",
        "UV_PYTHON_INSTALL_DIR=/tmp/uv-python",
    ]
    container = start_container(site, *(alone if job_user == "none" else []))
    wait_for(lambda: "spy" in _request(container.url + "/api/projects", site.token)[1].decode(), timeout=30)
    status, _, headers = _request(container.url + "/api/projects/spy/sync", site.token, method="POST")
    assert status == 202, status
    job_path = headers["Location"]

    def ended():
        job = json.loads(_request(container.url + job_path, site.token)[1])
        return job if job["status"] not in ("queued", "running") else None

    job = wait_for(ended, timeout=120)
    said = (site.state / "logs" / f"{job['id']}.log").read_text()
    assert f"Uid: {uid} {uid} {uid} {uid}" in said, said
    assert "CapEff: 0000000000000000" in said and "CapPrm: 0000000000000000" in said, said
    if job_user == "none":
        return  # the server's own user: only bubblewrap could hide its files, and it cannot run here
    assert "/var/lib/envboard/secret_key: PermissionError" in said, said
    assert "/etc/envboard/users.toml: PermissionError" in said, said
