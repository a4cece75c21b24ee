"""Outdated packages, upgrade plans, applied upgrades and rollbacks, with real uv against a local index.

The index is a folder of tiny wheels built here, which each project names as a flat
`[[tool.uv.index]]`: `fixpkg` 1.0, 1.1 and 2.0, whose dependency `fixdep` moves from
1.x to 2.x at fixpkg 2.0 (and whose `fixpkg.compat` module is gone in 2.0).
"""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest

from tests.conftest import (
    ENTRY_GROUP,
    build_dagster_stand_in,
    build_wheel,
    free_port,
    uv,
    wait_for,
    write_workspace,
)
from webapp.cli import main
from webapp.core.app import Envboard
from webapp.core.pages import upgrades
from webapp.core.settings import Settings
from webapp.core.upgrades.apply import UpgradeRequest, start_rollback, start_upgrade
from webapp.core.upgrades.plan import Target

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def index(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("index")
    build_dagster_stand_in(folder, "0.0.1")
    build_wheel(folder, "fixdep", "1.0", {"fixdep/__init__.py": ""})
    build_wheel(folder, "fixdep", "2.0", {"fixdep/__init__.py": ""})
    for version in ("1.0", "1.1"):
        build_wheel(
            folder,
            "fixpkg",
            version,
            {"fixpkg/__init__.py": "", "fixpkg/compat.py": ""},
            requires=["fixdep<2"],
        )
    build_wheel(folder, "fixpkg", "2.0", {"fixpkg/__init__.py": ""}, requires=["fixdep>=2"])
    # a plugin that needs fixpkg 1.x: after an upgrade to 2.0 it no longer loads
    build_wheel(
        folder,
        "oldplugin",
        "1.0",
        {"oldplugin/__init__.py": "import fixpkg.compat\n"},
        entry_points={ENTRY_GROUP: {"oldplugin": "oldplugin"}},
        requires=["dagster"],
    )
    return folder


def uv_project(folder: Path, name: str, requirements: list[str], index_url: str, flat: bool = True) -> Path:
    """A persistent_uv dg project on the local index, locked and synced at fixpkg 1.0."""
    folder.mkdir(parents=True)
    pinned = ["fixpkg==1.0" if r in ("fixpkg", "fixpkg<2") else r for r in requirements]

    def write(requires: list[str]) -> None:
        (folder / "pyproject.toml").write_text(
            textwrap.dedent(f"""\
            [project]
            name = "{name}"
            version = "0.1.0"
            requires-python = ">=3.9"
            # what the project needs
            dependencies = [{", ".join(requires)}]

            [tool.uv]
            package = false

            [[tool.uv.index]]
            name = "local"
            url = "{index_url}"
            {'format = "flat"' if flat else ""}
            default = true

            [tool.dg]
            directory_type = "project"

            [tool.dg.project]
            root_module = "{name}"
            python_environment = "persistent_uv"
            """)
        )

    write([json.dumps(r) for r in pinned])
    uv(uv_bin_path(), "lock", cwd=folder)
    write([json.dumps(r) for r in requirements])  # the lock still pins 1.0: only an upgrade moves it
    uv(uv_bin_path(), "sync", cwd=folder)
    return folder


def uv_bin_path() -> str:
    from webapp.core.environments.processes import find_uv

    return find_uv().path


@pytest.fixture
def three(tmp_path, index) -> Path:
    """alpha: fixpkg; beta: fixpkg and a plugin that needs fixpkg 1.x; gamma: pins fixpkg<2."""
    root = write_workspace(tmp_path / "ws", ["alpha", "beta", "gamma"])
    uv_project(root / "alpha", "alpha", ["fixpkg", "dagster"], str(index))
    uv_project(root / "beta", "beta", ["fixpkg", "dagster", "oldplugin"], str(index))
    uv_project(root / "gamma", "gamma", ["fixpkg<2", "dagster"], str(index))
    return root


def files(root: Path, name: str) -> tuple[bytes, bytes]:
    return (root / name / "pyproject.toml").read_bytes(), (root / name / "uv.lock").read_bytes()


def locked(root: Path, name: str, package: str) -> str:
    return re.search(
        rf'name = "{package}"\nversion = "([^"]+)"', (root / name / "uv.lock").read_text()
    ).group(1)


def cli(capsys, root: Path, state: Path, *args: str) -> tuple[int, str, str]:
    code = main([*args[:1], "--workspace", str(root), "--state-dir", str(state), *args[1:]])
    out, err = capsys.readouterr()
    return code, out, err


def test_outdated_lists_the_newest_on_the_projects_own_index(tmp_path, index, capsys):
    root = write_workspace(tmp_path / "ws", ["alpha"])
    uv_project(root / "alpha", "alpha", ["fixpkg", "dagster"], str(index))
    code, out, _ = cli(capsys, root, tmp_path / "state", "outdated", "--json")
    assert code == 0
    assert json.loads(out) == {
        "projects": [
            {
                "id": "alpha",
                "name": "alpha",
                "outdated": [  # direct dependencies first
                    {"name": "fixpkg", "version": "1.0", "latest": "2.0", "direct": True},
                    {"name": "fixdep", "version": "1.0", "latest": "2.0", "direct": False},
                ],
                "index_error": None,
            }
        ]
    }


def test_an_unreachable_index_is_said_once_per_project(tmp_path, index, capsys, monkeypatch):
    root = write_workspace(tmp_path / "ws", ["alpha"])
    project = uv_project(root / "alpha", "alpha", ["fixpkg"], str(index))
    # the same project, now naming an index nobody answers on (a loopback port with no server)
    text = (
        (project / "pyproject.toml").read_text().replace(str(index), f"http://127.0.0.1:{free_port()}/simple")
    )
    (project / "pyproject.toml").write_text(text.replace('format = "flat"', ""))
    monkeypatch.delenv("UV_OFFLINE")  # offline, uv says nothing is outdated instead of failing
    monkeypatch.setenv("UV_HTTP_RETRIES", "0")
    code, out, _ = cli(capsys, root, tmp_path / "state", "outdated", "--json")
    report = json.loads(out)["projects"][0]
    assert code == 0 and report["outdated"] == []
    assert report["index_error"].startswith("index not reachable since ")
    assert "127.0.0.1" in report["index_error"]


def test_outdated_is_cached_and_checked_again_when_the_environment_changes(tmp_path, index):
    root = write_workspace(tmp_path / "ws", ["alpha"])
    project = uv_project(root / "alpha", "alpha", ["fixpkg"], str(index))
    envboard = Envboard(Settings(workspace=root, state_dir=tmp_path / "state"))
    try:
        state = envboard.board.state(envboard.board.project("alpha"), wait=True)
        first = envboard.outdated.report(state.project, state.env, wait=True)
        assert first.latest == {"fixpkg": "2.0", "fixdep": "2.0"}
        again = envboard.outdated.report(state.project, state.env)
        assert again.known and not again.pending and again.checked_at == first.checked_at  # from the cache
        uv(uv_bin_path(), "pip", "install", "-p", ".venv/bin/python", "fixpkg==1.1", cwd=project)
        stale = envboard.outdated.report(state.project, state.env)
        assert stale.pending  # site-packages changed: checked again in the background
        fresh = wait_for(
            lambda: (
                (r := envboard.outdated.report(state.project, state.env)).checked_at != first.checked_at
                and not r.pending
                and r
            )
        )
        assert {p.name: p.version for p in fresh.packages}["fixpkg"] == "1.1"
    finally:
        envboard.close()


def test_a_plan_over_three_projects_shows_the_diffs_and_the_pin_that_blocks_one(tmp_path, three, capsys):
    before = {name: files(three, name) for name in ("alpha", "beta", "gamma")}
    code, out, _ = cli(capsys, three, tmp_path / "state", "upgrade", "fixpkg", "--plan", "--json")
    assert code == 0
    plan = json.loads(out)
    assert plan["target"] == {"name": "fixpkg", "version": "2.0"}  # the newest on the index
    by_id = {p["id"]: p for p in plan["projects"]}
    assert set(by_id) == {"alpha", "beta", "gamma"}
    for name in ("alpha", "beta"):
        assert by_id[name]["blocked"] is None
        assert sorted(by_id[name]["changes"], key=lambda c: c["name"]) == [
            {"name": "fixdep", "from": "1.0", "to": "2.0"},
            {"name": "fixpkg", "from": "1.0", "to": "2.0"},
        ]
    gamma = by_id["gamma"]
    assert gamma["changes"] == [] and "fixpkg<2" in gamma["blocked"]
    assert "'fixpkg<2' to 'fixpkg>=2.0'" in gamma["blocked"]  # the edit that would allow it
    assert {name: files(three, name) for name in before} == before  # nothing was written


def test_apply_upgrades_two_and_rolls_back_the_one_whose_plugins_stop_loading(tmp_path, three, capsys):
    beta_before = files(three, "beta")
    gamma_pyproject = (three / "gamma" / "pyproject.toml").read_text()
    code, _, err = cli(capsys, three, tmp_path / "state", "upgrade", "fixpkg", "--apply")
    assert code == 1, err  # one project was rolled back
    assert locked(three, "alpha", "fixpkg") == "2.0" and locked(three, "alpha", "fixdep") == "2.0"
    # gamma's pin was edited as the plan said (its comment and layout kept), then upgraded
    assert locked(three, "gamma", "fixpkg") == "2.0"
    edited = (three / "gamma" / "pyproject.toml").read_text()
    assert edited == gamma_pyproject.replace('"fixpkg<2"', '"fixpkg>=2.0"')
    # beta: oldplugin no longer imports on fixpkg 2.0, so everything went back, byte for byte
    assert files(three, "beta") == beta_before
    assert "rolled back: verification failed (plugins still load): plugin oldplugin" in err
    installed = uv(
        uv_bin_path(), "pip", "list", "-p", ".venv/bin/python", "--format", "json", cwd=three / "beta"
    )
    assert {p["name"]: p["version"] for p in json.loads(installed.stdout)}["fixpkg"] == "1.0"  # synced back


def test_a_rollback_from_history_restores_the_lock_of_two_jobs_ago(tmp_path, index, make_app):
    root = write_workspace(tmp_path / "ws", ["alpha"])
    uv_project(root / "alpha", "alpha", ["fixpkg", "dagster"], str(index))
    original = files(root, "alpha")
    app = make_app(root)
    from tests.conftest import core

    envboard = core(app)
    project = envboard.board.project("alpha")
    names = ["dagster", "fixdep", "fixpkg"]
    first = start_upgrade(
        envboard.jobs, project, UpgradeRequest(Target("fixpkg", "1.1"), tuple(names)), "ann"
    )
    assert envboard.jobs.wait(first.id, 120).status == "succeeded"
    assert locked(root, "alpha", "fixpkg") == "1.1"
    second = start_upgrade(
        envboard.jobs, project, UpgradeRequest(Target("fixpkg", "2.0"), tuple(names)), "bob"
    )
    assert envboard.jobs.wait(second.id, 120).status == "succeeded"
    assert locked(root, "alpha", "fixpkg") == "2.0"
    client = app.test_client()
    page = client.get("/history").get_data(as_text=True)
    assert f'action="/jobs/{first.id}/rollback"' in page  # History offers it
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    assert client.post(f"/jobs/{first.id}/rollback").status_code == 403  # no CSRF token: refused
    response = client.post(f"/jobs/{first.id}/rollback", headers={"X-CSRF-Token": csrf})
    assert response.status_code == 303
    rollback_id = response.headers["Location"].rsplit("/", 1)[1]
    assert envboard.jobs.wait(rollback_id, 120).status == "succeeded"
    assert files(root, "alpha") == original  # as before the first of the two upgrades
    # and the rollback kept what it replaced: rolling it back returns to 2.0
    again = start_rollback(envboard.jobs, rollback_id, "ann")
    assert envboard.jobs.wait(again.id, 120).status == "succeeded"
    assert locked(root, "alpha", "fixpkg") == "2.0"


def test_upgrade_refuses_a_target_that_is_not_a_package(tmp_path, three, capsys):
    code, _, err = cli(capsys, three, tmp_path / "state", "upgrade", "fix pkg==", "--plan")
    assert code == 2 and "is not a package name" in err
    assert upgrades.Target is Target


def test_versions_flags_a_code_location_newer_than_the_host_and_a_family_out_of_lockstep(
    tmp_path, make_app, uv_bin
):
    index = tmp_path / "index"
    for version in ("1.12.0", "1.13.0"):
        build_dagster_stand_in(index, version)
    build_wheel(index, "dagster-pipes", "1.13.0", {"dagster_pipes/__init__.py": ""})
    build_wheel(index, "dagster-fix", "0.29.0", {"dagster_fix/__init__.py": ""})  # 1.13's libraries are 0.29
    build_wheel(index, "dagster-fix", "0.28.0", {"dagster_fix/__init__.py": ""})
    root = write_workspace(tmp_path / "ws", ["new", "old"])
    uv_project(root / "new", "new", ["dagster==1.13.0", "dagster-pipes", "dagster-fix==0.29.0"], str(index))
    uv_project(root / "old", "old", ["dagster==1.12.0", "dagster-fix==0.28.0"], str(index))
    uv(uv_bin, "venv", ".venv", cwd=root)  # the workspace's own environment runs the host: dagster 1.12
    uv(
        uv_bin,
        "pip",
        "install",
        "-p",
        ".venv/bin/python",
        str(index / "dagster-1.12.0-py3-none-any.whl"),
        cwd=root,
    )
    client = make_app(root).test_client()
    warnings = wait_for(lambda: client.get("/api/versions").get_json()["warnings"], timeout=60)
    assert [(w["kind"], w["project"]) for w in warnings] == [("host", "new")]
    assert "newer than the workspace's 1.12.0" in warnings[0]["message"]
    # one release of the family moved alone: out of lockstep
    uv(
        uv_bin,
        "pip",
        "install",
        "-p",
        ".venv/bin/python",
        str(index / "dagster_fix-0.28.0-py3-none-any.whl"),
        cwd=root / "new",
    )
    app_warnings = wait_for(lambda: len(w := client.get("/api/versions").get_json()["warnings"]) == 2 and w)
    lockstep = [w for w in app_warnings if w["kind"] == "lockstep"]
    assert lockstep[0]["project"] == "new" and "dagster-fix 0.28.0" in lockstep[0]["message"]
    page = client.get("/versions").get_data(as_text=True)
    assert 'id="versions-warnings"' in page and "out of lockstep with dagster 1.13.0" in page
