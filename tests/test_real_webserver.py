"""The running Dagster webserver told: a real `dg dev` (dagster-webserver 1.13 from PyPI) beside a
real `envboard serve --dagster-url` (needs the package index).

The project names its code location (`code_location_name = "storefront"`, which `dg dev`'s
generated workspace uses), so envboard must name it as dg does. A broken definitions file is
not pushed onto the webserver by a failing check; a sync asks it to reload, and the webserver's
own status (asked by the test itself over GraphQL) then shows the project's error; the fix,
with nobody pressing anything, is checked, found to load, and reloaded there too. envboard's
page and its JSON twin show the webserver's status beside envboard's verdict.
"""

import contextlib
import json
import os
import signal
import subprocess
import urllib.request
from pathlib import Path

import psutil
import pytest

from tests.conftest import free_port, live_group_members, wait_for
from tests.dagster_projects import SHOP_DEFINITIONS, create_dagster_project, registry_env
from tests.shared_bytecode import share_bytecode
from tests.test_api_actions import call
from webapp.core.access.users import add_user

pytestmark = [pytest.mark.dagster, pytest.mark.slow]

STATUS = (
    "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus"
    " locationOrLoadError { __typename ... on PythonError { message causes { message } } } } } } }"
)


@pytest.fixture(scope="module")
def shop(tmp_path_factory, uv_bin, package_index, bytecode_donors) -> Path:
    # the project names its code location, which `dg dev`'s generated workspace uses
    settings = {"python_environment": "persistent_uv", "code_location_name": "storefront"}
    project = create_dagster_project(
        tmp_path_factory.mktemp("told"),
        "shop",
        uv_bin,
        definitions=SHOP_DEFINITIONS,
        project_settings=settings,
    )
    assert (project / ".venv" / "bin" / "dagster-webserver").is_file()  # its dev dependencies
    share_bytecode(project / ".venv", bytecode_donors)
    return project


@pytest.fixture(scope="module")
def dagster(shop, tmp_path_factory):
    """`dg dev` on a free loopback port: the webserver, its daemon and the location's code server."""
    base = tmp_path_factory.mktemp("dg-dev")
    home = base / "home"
    home.mkdir()
    temporary = base / "tmp"  # dg dev's generated workspace file, and whatever else it leaves
    temporary.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    port = free_port()
    log = open(base / "dg-dev.log", "wb")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(
        [str(shop / ".venv" / "bin" / "dg"), "dev", "--port", str(port), "--host", "127.0.0.1"],
        cwd=shop,
        env={**registry_env(), "DAGSTER_HOME": str(home), "TMPDIR": str(temporary)},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: everything it starts ends with it
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(
            lambda: process.poll() is not None or "storefront" in locations(url), timeout=600, interval=1
        )
        assert process.poll() is None, (base / "dg-dev.log").read_text()
        yield url
    finally:
        # Ctrl-C, as a person stops `dg dev`: the whole group gets SIGINT, and dg dev tells the
        # webserver and the daemon to stop. Alone that takes about 5 s; on a loaded machine a
        # member can linger for dg dev's own minute-long wait. Nothing here is about that
        # shutdown: after a short grace the group is killed (its temporary files are in `base`).
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGINT)
        try:
            wait_for(lambda: not live_group_members(process.pid), timeout=5, interval=0.2)
        except AssertionError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        log.close()
        wait_for(lambda: not live_group_members(process.pid) and not running_from(shop), timeout=30)


def running_from(project: Path) -> list[int]:
    """Processes still running the project's interpreter or its scripts (dg, the webserver, the
    daemon, code servers), wherever their process group."""
    venv = str(project / ".venv")
    found = []
    for process in psutil.process_iter(["cmdline", "status"]):
        with contextlib.suppress(psutil.Error):
            if process.info["status"] != psutil.STATUS_ZOMBIE and any(
                venv in part for part in process.info["cmdline"] or ()
            ):
                found.append(process.pid)
    return found


def locations(url: str) -> dict[str, dict]:
    """What the webserver itself says of each location, asked by the test ({} until it answers)."""
    body = json.dumps({"query": STATUS}).encode()
    request = urllib.request.Request(
        url + "/graphql", data=body, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            entries = json.loads(response.read())["data"]["workspaceOrError"]["locationEntries"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    return {entry["name"]: entry for entry in entries}


def its_error(url: str) -> str | None:
    """The webserver's own error for the storefront location, causes included; None when it loads."""
    located = locations(url)["storefront"]["locationOrLoadError"]
    if located["__typename"] != "PythonError":
        return None
    return "\n".join([located["message"], *(cause["message"] for cause in located["causes"])])


def test_a_sync_reloads_the_location_and_a_fix_that_loads_is_reloaded_too(
    shop, dagster, live_server, tmp_path
):
    users = tmp_path / "users.toml"
    token = add_user(users, "ana", "operator")
    envboard = live_server(shop, "--users", str(users), "--dagster-url", dagster + "/")
    api = f"{envboard}/api/projects/shop/definitions"

    def said(loads: bool | None, told: bool | None):
        answer = call(api, token)[2]
        return answer if answer["loads"] is loads and answer["webserver"]["loads"] is told else None

    # envboard's first check loads, so the webserver is asked to reload: both say it loads
    first = wait_for(lambda: said(True, True), timeout=600, interval=0.5)
    assert first["webserver"]["location"] == "storefront" and first["webserver"]["problem"] is None

    def reload_answered():  # the reload is asked after the check's record ends, off its path
        jobs = call(f"{envboard}/api/jobs", token)[2]["jobs"]
        return next((j for j in jobs if j["action"] == "check" and j["detail"].get("webserver")), None)

    check = wait_for(reload_answered, timeout=600, interval=0.5)
    assert check["status"] == "succeeded" and check["detail"]["webserver"]["loads"] is True
    assert its_error(dagster) is None

    broken = shop / "src" / "shop" / "defs" / "broken.py"
    broken.write_text("import no_such_backend_xyz\n")
    try:
        # envboard finds it broken; a failing check is not pushed onto the running webserver
        failing = wait_for(lambda: said(False, True), timeout=600, interval=0.5)
        assert failing["error"]["message"] == "ModuleNotFoundError: No module named 'no_such_backend_xyz'"
        assert its_error(dagster) is None

        # a sync asks it to reload: the webserver now loads the broken file and says so
        status, headers, job = call(f"{envboard}/api/projects/shop/sync", token, "POST")
        assert status == 202, job
        job_url = envboard + headers["Location"]
        done = wait_for(
            lambda: (j := call(job_url, token)[2])["status"] not in ("queued", "running") and j, 900
        )
        assert done["status"] == "succeeded", done["message"]
        # the webserver is asked once the job has ended (and freed the project); its answer follows
        told = wait_for(lambda: call(job_url, token)[2]["detail"].get("webserver"), 600, interval=0.5)
        assert told["location"] == "storefront" and told["loads"] is False
        assert told["reason"] == "ModuleNotFoundError: No module named 'no_such_backend_xyz'"
        assert "No module named 'no_such_backend_xyz'" in its_error(dagster)
        assert done["detail"]["load_check"]["loads"] is False

        both = said(False, False)
        assert both and both["webserver"]["reason"] == told["reason"]
        page = urllib.request.Request(
            f"{envboard}/projects/shop", headers={"Authorization": f"Bearer {token}"}
        )
        html = urllib.request.urlopen(page, timeout=30).read().decode()
        assert "does not load" in html and "failed to load" in html
        assert "ModuleNotFoundError: No module named &#39;no_such_backend_xyz&#39;" in html
    finally:
        broken.unlink(missing_ok=True)

    # the fix: nobody presses anything; envboard's check loads, and the webserver is reloaded
    wait_for(lambda: said(True, True), timeout=600, interval=0.5)
    assert its_error(dagster) is None

    def checks():
        history = call(f"{envboard}/api/projects/shop/history", token)[2]
        return [job for job in history["jobs"] if job["action"] == "check"]

    # the check's record gets the webserver's answer once it came
    assert wait_for(lambda: checks()[0]["detail"].get("webserver"), 120, interval=0.5)["loads"] is True
    assert all("webserver" not in job["detail"] for job in checks() if job["status"] == "failed")
