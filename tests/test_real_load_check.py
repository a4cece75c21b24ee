"""Does it load? envboard's verdict against real dg from PyPI (needs the package index).

The project is a real `create-dagster` project (Dagster 1.13, dagster-dg-cli 1.13) in
persistent_uv mode; envboard's counts must equal `dg list defs --json`, its located error
the one `dg check defs` prints, and a fix on disk must turn the project green with nobody
pressing anything. Each `dg check defs` takes seconds, so the tests share one project.
"""

import contextlib
import io
import json
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from tests.conftest import wait_for
from tests.dagster_projects import SHOP_DEFINITIONS, create_dagster_project, registry_env
from tests.shared_bytecode import share_bytecode
from webapp.cli import main as cli
from webapp.core.app import Envboard
from webapp.core.settings import Settings

pytestmark = [pytest.mark.dagster, pytest.mark.slow]


@pytest.fixture(scope="module")
def shop(tmp_path_factory, uv_bin, package_index, bytecode_donors) -> Path:
    project = create_dagster_project(
        tmp_path_factory.mktemp("loads"), "shop", uv_bin, definitions=SHOP_DEFINITIONS
    )
    share_bytecode(project / ".venv", bytecode_donors)
    return project


def dg(project: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(project / ".venv" / "bin" / "dg"), *args],
        cwd=project,
        env=registry_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )


def envboard_check(project: Path, state_dir: Path, *extra: str) -> tuple[int, dict]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli(["check", "--workspace", str(project), "--state-dir", str(state_dir), "--json", *extra])
    (entry,) = json.loads(out.getvalue())["projects"]
    return code, entry


def test_a_project_that_loads_has_the_definitions_dg_lists(shop, tmp_path):
    listed = dg(shop, "list", "defs", "--json")
    assert listed.returncode == 0, listed.stderr
    expected = {kind: len(items) for kind, items in json.loads(listed.stdout).items()}
    assert expected["assets"] == 2 and expected["schedules"] == 1
    code, entry = envboard_check(shop, tmp_path)
    assert code == 0
    assert entry["loads"] is True and entry["error"] is None
    assert entry["definitions"] == expected
    # the verdict is kept while nothing it depends on changes, and recorded once in the history
    assert envboard_check(shop, tmp_path) == (0, entry)
    envboard = Envboard(Settings(workspace=shop, state_dir=tmp_path))
    try:
        checks = [job for job in envboard.history.list(None) if job.action == "check"]
    finally:
        envboard.close()
    assert [(job.status, job.detail["load_check"]["loads"]) for job in checks] == [("succeeded", True)]


def test_a_missing_component_type_is_located_as_dg_does_and_a_fix_turns_it_green(shop, tmp_path):
    kpi = shop / "src" / "shop" / "defs" / "kpi"
    kpi.mkdir()
    (kpi / "defs.yaml").write_text("type: shop.KpiReprot\n\nattributes: {}\n")
    envboard = Envboard(Settings(workspace=shop, state_dir=tmp_path, refresh_interval=0.2))
    try:
        said = dg(shop, "check", "defs")
        assert said.returncode == 1
        envboard.monitor.start()

        def verdict(status):
            state = envboard.monitor.snapshot.get("shop")
            counted = state is not None and not (state.check and state.check.counting)  # its counts are in
            return state if counted and state.check_status == status else None

        failing = wait_for(lambda: verdict("fails"), timeout=600).check
        error = failing.error
        assert error["file"] == str(kpi / "defs.yaml") and error["line"] == 1
        assert error["message"] == "Component type 'shop.KpiReprot' not found."
        assert f"{error['file']}:{error['line']} -  {error['message']}" in said.stdout + said.stderr
        shutil.rmtree(kpi)  # the fix; nobody presses Check
        loading = wait_for(lambda: verdict("loads"), timeout=600).check
        assert loading.definitions["assets"] == 2
        checks = [job for job in envboard.history.list("shop") if job.action == "check"]
        assert [job.status for job in reversed(checks)][-2:] == ["failed", "succeeded"]
        assert all(job.who.startswith("envboard") for job in checks)
    finally:
        envboard.close()
        shutil.rmtree(kpi, ignore_errors=True)


def test_a_sync_checks_that_the_project_loads_as_part_of_the_job(shop, tmp_path):
    envboard = Envboard(Settings(workspace=shop, state_dir=tmp_path))
    try:
        record, _ = envboard.jobs.sync(envboard.board.project("shop"), "ana")
        done = envboard.jobs.wait(record.id, timeout=900)
        assert done.status == "succeeded", done.message
        assert done.detail["load_check"]["loads"] is True
        assert done.detail["load_check"]["definitions"]["jobs"] == 1
        log = Path(done.log_path).read_text()
        assert "dg check defs" in log and "[envboard] definitions: loads" in log
    finally:
        envboard.close()


WAREHOUSE = """
import os

import dagster as dg


class Warehouse(dg.ConfigurableResource):
    token: str


@dg.definitions
def resources():
    return dg.Definitions(resources={"warehouse": Warehouse(token=os.environ["SHOP_TOKEN"])})
"""


def test_an_import_error_and_a_missing_variable_are_located_as_dg_says_and_env_fixes_it(shop, tmp_path):
    defs = shop / "src" / "shop" / "defs"
    broken = defs / "broken.py"
    broken.write_text("import no_such_backend_xyz\n")
    warehouse = defs / "warehouse.py"
    try:
        said = dg(shop, "check", "defs")
        assert said.returncode == 1
        code, entry = envboard_check(shop, tmp_path)
        assert code == 1 and entry["loads"] is False and entry["definitions"] is None
        error = entry["error"]
        assert (error["file"], error["line"]) == (str(broken), 1)
        assert error["message"] == "ModuleNotFoundError: No module named 'no_such_backend_xyz'"
        assert f'File "{broken}", line 1' in said.stdout + said.stderr
        assert error["message"] in said.stdout + said.stderr
        broken.unlink()

        warehouse.write_text(textwrap.dedent(WAREHOUSE))
        envboard = Envboard(Settings(workspace=shop, state_dir=tmp_path, refresh_interval=0.2))
        try:
            envboard.monitor.start()

            def verdict(status):
                state = envboard.monitor.snapshot.get("shop")
                counted = state is not None and not (
                    state.check and state.check.counting
                )  # its counts are in
                return state if counted and state.check_status == status else None

            missing = wait_for(lambda: verdict("fails"), timeout=600).check.error
            assert (missing["file"], missing["line"]) == (str(warehouse), 13)
            assert missing["message"] == "KeyError: 'SHOP_TOKEN'"
            (shop / ".env").write_text("SHOP_TOKEN=secret\n")  # dg reads the project's .env
            loading = wait_for(lambda: verdict("loads"), timeout=600).check
            assert loading.definitions["resources"] == 1
        finally:
            envboard.close()
    finally:
        broken.unlink(missing_ok=True)
        warehouse.unlink(missing_ok=True)
        (shop / ".env").unlink(missing_ok=True)
