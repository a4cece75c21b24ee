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
    core,
    free_port,
    uv,
    wait_for,
    write_project,
    write_workspace,
)
from webapp.cli import main
from webapp.core.app import Envboard
from webapp.core.pages import upgrades
from webapp.core.settings import Settings
from webapp.core.upgrades.apply import UpgradeRequest, start_rollback, start_upgrade
from webapp.core.upgrades.target import Target

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


def test_projects_sharing_an_environment_share_its_check_unless_uv_reads_another_config(tmp_path):
    """Every `active` project runs in the interpreter envboard runs in: uv is asked once for
    them all, except where uv would read another config (gamma's own uv.toml)."""
    root = write_workspace(tmp_path / "ws", ["alpha", "beta", "gamma"])
    for name in ("alpha", "beta", "gamma"):  # no [tool.uv] table: uv reads no config of theirs
        (root / name).mkdir()
        (root / name / "pyproject.toml").write_text(
            f'[project]\nname = "{name}"\n\n[tool.dg]\ndirectory_type = "project"\n\n'
            f'[tool.dg.project]\nroot_module = "{name}"\npython_environment = "active"\n'
        )
    (root / "gamma" / "uv.toml").write_text('exclude-newer = "2024-01-01T00:00:00Z"\n')
    envboard = Envboard(Settings(workspace=root, state_dir=tmp_path / "state"))
    try:
        checked = {}
        for name in ("alpha", "beta", "gamma"):
            state = envboard.board.state(envboard.board.project(name), wait=True)
            report = envboard.outdated.report(state.project, state.env, wait=True)
            assert report.known and report.index_error is None, report
            checked[name] = report.checked_at
        assert checked["beta"] == checked["alpha"]  # beta took alpha's answer: one uv run
        assert checked["gamma"] > checked["alpha"]  # asked apart, after it
    finally:
        envboard.close()


def test_uv_settings_read_elsewhere_make_a_check_of_its_own(tmp_path):
    """alpha is a member of the uv workspace at the root, so uv reads alpha's settings there;
    beta is not, and uv finds the same file from beta's folder, but as its own config. A
    uv.toml made in beta's folder later makes beta's answer stale."""
    root = write_workspace(tmp_path / "ws", ["alpha", "beta"])
    (root / "pyproject.toml").write_text('[tool.uv.workspace]\nmembers = ["alpha"]\n')
    for name in ("alpha", "beta"):
        (root / name).mkdir()
        (root / name / "pyproject.toml").write_text(
            f'[project]\nname = "{name}"\n\n[tool.dg]\ndirectory_type = "project"\n\n'
            f'[tool.dg.project]\nroot_module = "{name}"\npython_environment = "active"\n'
        )
    envboard = Envboard(Settings(workspace=root, state_dir=tmp_path / "state"))
    try:

        def checked(name: str) -> float:
            state = envboard.board.state(envboard.board.project(name), wait=True)
            report = envboard.outdated.report(state.project, state.env, wait=True)
            assert report.known and report.index_error is None, report
            return report.checked_at

        alpha, beta = checked("alpha"), checked("beta")
        assert beta > alpha  # asked apart
        assert checked("beta") == beta  # kept
        (root / "beta" / "uv.toml").write_text('exclude-newer = "2024-01-01T00:00:00Z"\n')
        assert checked("beta") > beta  # asked again with the new settings
    finally:
        envboard.close()


def test_an_answer_got_with_other_uv_settings_is_not_taken(tmp_path, monkeypatch):
    """A command line run with other UV_* variables than the server's (another index, say) gets
    uv's answer for those; the server's projects must not take it as theirs."""
    root = write_workspace(tmp_path / "ws", ["alpha"])
    (root / "alpha").mkdir()
    (root / "alpha" / "pyproject.toml").write_text(
        '[project]\nname = "alpha"\n\n[tool.dg]\ndirectory_type = "project"\n\n'
        '[tool.dg.project]\nroot_module = "alpha"\npython_environment = "active"\n'
    )

    def checked() -> float:
        envboard = Envboard(Settings(workspace=root, state_dir=tmp_path / "state"))
        try:
            state = envboard.board.state(envboard.board.project("alpha"), wait=True)
            report = envboard.outdated.report(state.project, state.env, wait=True)
            assert report.known and report.index_error is None, report
            return report.checked_at
        finally:
            envboard.close()

    first = checked()
    assert checked() == first  # the same settings: the kept answer
    monkeypatch.setenv("UV_EXCLUDE_NEWER", "2024-01-01T00:00:00Z")
    assert checked() > first  # asked again with these


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


EDITABLE_BACKEND = """
import os
import zipfile


def get_requires_for_build_wheel(config_settings=None):
    return []


get_requires_for_build_editable = get_requires_for_build_wheel


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    name = "zeta-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w") as archive:
        archive.writestr("zeta-0.1.0.dist-info/METADATA", "Metadata-Version: 2.1\\nName: zeta\\nVersion: 0.1.0\\n")
        archive.writestr("zeta-0.1.0.dist-info/WHEEL", "Wheel-Version: 1.0\\nGenerator: t\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n")
        archive.writestr("zeta-0.1.0.dist-info/RECORD", "")
    return name


build_editable = build_wheel
"""


def copy_of(index: Path, folder: Path) -> Path:
    """A copy of the shared index that one test may add releases to."""
    folder.mkdir()
    for wheel in index.glob("*.whl"):
        (folder / wheel.name).write_bytes(wheel.read_bytes())
    return folder


@pytest.fixture
def zeta(tmp_path, index) -> Path:
    """A project installed editable (as uv sync installs a package project) whose name the index
    also has, at 9.0: a release that is not the project's own."""
    own_index = copy_of(index, tmp_path / "index")
    build_wheel(own_index, "zeta", "9.0", {"zeta/__init__.py": ""})
    root = write_workspace(tmp_path / "ws", ["zeta"])
    project = root / "zeta"
    project.mkdir()
    (project / "backend.py").write_text(EDITABLE_BACKEND)
    (project / "pyproject.toml").write_text(
        textwrap.dedent(f"""\
        [project]
        name = "zeta"
        version = "0.1.0"
        requires-python = ">=3.9"
        dependencies = ["fixpkg==1.0", "dagster"]

        [build-system]
        requires = []
        build-backend = "backend"
        backend-path = ["."]

        [[tool.uv.index]]
        name = "local"
        url = "{own_index}"
        format = "flat"
        default = true

        [tool.dg]
        directory_type = "project"

        [tool.dg.project]
        root_module = "zeta"
        python_environment = "persistent_uv"
        """)
    )
    uv(uv_bin_path(), "sync", cwd=project)
    return root


def test_packages_name_the_newest_release_of_each_package_or_why_it_is_not_known(
    tmp_path, zeta, capsys, monkeypatch
):
    monkeypatch.delenv("UV_OFFLINE")  # the index is a local folder: uv online asks nothing remote
    code, out, _ = cli(capsys, zeta, tmp_path / "state", "packages", "zeta", "--json")
    assert code == 0
    rows = {row["name"]: row for row in json.loads(out)["packages"]}
    assert rows["fixpkg"]["latest"] == "2.0" and rows["fixdep"]["latest"] == "2.0"
    assert rows["dagster"]["latest"] == "0.0.1" and rows["dagster"]["latest_unknown"] is None  # is the newest
    # the project itself is installed from its folder: the index's zeta 9.0 is another package
    assert rows["zeta"]["latest"] is None and "editable" in rows["zeta"]["latest_unknown"]
    _, out, _ = cli(capsys, zeta, tmp_path / "state", "outdated", "--json")
    assert [p["name"] for p in json.loads(out)["projects"][0]["outdated"]] == ["fixpkg", "fixdep"]
    code, out, _ = cli(capsys, zeta, tmp_path / "state", "packages", "zeta")
    header, *lines = out.splitlines()
    assert header.split() == ["PACKAGE", "INSTALLED", "LOCKED", "DIRECT", "LATEST"]
    assert next(line for line in lines if line.startswith("fixpkg ")).split()[:5] == [
        "fixpkg",
        "1.0",
        "1.0",
        "yes",
        "2.0",
    ]

    # offline, uv does not list what it has not seen: "not outdated" is no longer "the newest"
    monkeypatch.setenv("UV_OFFLINE", "1")
    _, out, _ = cli(capsys, zeta, tmp_path / "offline-state", "packages", "zeta", "--json")
    rows = {row["name"]: row for row in json.loads(out)["packages"]}
    assert rows["fixpkg"]["latest"] == "2.0"  # the local index is read offline too
    assert rows["dagster"]["latest"] is None and "offline" in rows["dagster"]["latest_unknown"]


def test_the_packages_page_shows_the_newest_release_from_the_cached_answer(zeta, make_app, monkeypatch):
    monkeypatch.delenv("UV_OFFLINE")
    client = make_app(zeta).test_client()

    def latest_cells():
        page = client.get("/projects/zeta/packages").get_data(as_text=True)
        cells = dict(re.findall(r'data-package="([^"]+)".*?<td class="latest">(.*?)</td>', page, re.S))
        return cells if "fixpkg" in cells and "2.0" in cells["fixpkg"] else None

    cells = wait_for(latest_cells, timeout=60)  # asked in the background, then shown
    assert 'class="badge outdated"' in cells["fixpkg"] and "1.0 is installed" in cells["fixpkg"]
    assert "badge" not in cells["dagster"] and "0.0.1" in cells["dagster"]  # installed is the newest
    assert "editable" in cells["zeta"] and "9.0" not in cells["zeta"]


def test_the_versions_matrix_marks_a_version_with_a_newer_release_on_the_projects_index(
    tmp_path, index, make_app, monkeypatch, capsys
):
    monkeypatch.delenv("UV_OFFLINE")  # the index is a local folder: uv online asks nothing remote
    own_index = copy_of(index, tmp_path / "index")
    root = write_workspace(tmp_path / "ws", ["alpha", "beta"])
    uv_project(root / "alpha", "alpha", ["fixpkg", "dagster"], str(own_index))
    uv_project(root / "beta", "beta", ["fixpkg", "dagster"], str(own_index))
    app = make_app(root)
    client = app.test_client()

    def marked():
        rows = {row["name"]: row for row in client.get("/api/versions?all=1").get_json()["packages"]}
        return rows if "fixpkg" in rows and len(rows["fixpkg"]["newer"]) == 2 else None

    rows = wait_for(marked, timeout=60)  # the outdated answers come in the background
    assert rows["fixpkg"]["newer"] == {"alpha": "2.0", "beta": "2.0"}
    assert rows["dagster"]["newer"] == {}  # 0.0.1 is the newest there is
    page = client.get("/versions?all=1").get_data(as_text=True)
    cell = re.search(r'data-package="fixpkg".*?<td data-project="alpha"[^>]*>(.*?)</td>', page, re.S).group(1)
    assert cell.startswith("1.0 ") and 'class="newer"' in cell and ">2.0<" in cell
    assert "fixpkg 2.0 is on alpha's index; 1.0 is installed" in cell  # the mark's title
    token = re.search(r"/fragments/versions\?since=(\d+)", page).group(1)
    assert client.get(f"/fragments/versions?since={token}&all=1").status_code == 204

    # a newer release appears and the next check finds it: an open page's poll shows it
    build_wheel(own_index, "fixpkg", "2.1", {"fixpkg/__init__.py": ""}, requires=["fixdep>=2"])
    envboard = core(app)
    state = envboard.monitor.snapshot.get("alpha")
    envboard.outdated.check(state.project, state.env)
    polled = client.get(f"/fragments/versions?since={token}&all=1")
    assert polled.status_code == 200 and ">2.1<" in polled.get_data(as_text=True)
    # the command line marks from the same cached answers
    code, out, _ = cli(capsys, root, tmp_path / "state", "versions", "--all")
    assert code == 0
    assert next(line for line in out.splitlines() if line.startswith("fixpkg ")).split() == [
        "fixpkg",
        "1.0->2.1",
        "1.0->2.0",
    ]


def test_the_dagster_family_is_planned_to_the_newest_release_its_lockstep_packages_all_have(tmp_path, capsys):
    index = tmp_path / "index"
    for version in ("1.12.0", "1.13.0", "1.13.1"):
        build_dagster_stand_in(index, version)
    for version in ("1.12.0", "1.13.0"):  # none for 1.13.1: Dagster publishes dagster releases dg skips
        contents = {"dagster_dg_cli/__init__.py": ""}
        build_wheel(index, "dagster-dg-cli", version, contents, requires=[f"dagster=={version}"])
    root = write_workspace(tmp_path / "ws", ["north"])
    north = uv_project(root / "north", "north", ["dagster==1.12.0", "dagster-dg-cli==1.12.0"], str(index))
    text = (north / "pyproject.toml").read_text()
    (north / "pyproject.toml").write_text(text.replace("==1.12.0", ""))  # the lock keeps 1.12.0
    uv(uv_bin_path(), "sync", cwd=north)
    code, out, err = cli(capsys, root, tmp_path / "state", "upgrade", "dagster-family", "--plan", "--json")
    assert code == 0, err
    plan = json.loads(out)
    assert plan["target"] == {"name": "dagster-family", "version": "1.13.0"}
    (project,) = plan["projects"]
    assert project["blocked"] is None
    assert sorted((c["name"], c["from"], c["to"]) for c in project["changes"]) == [
        ("dagster", "1.12.0", "1.13.0"),
        ("dagster-dg-cli", "1.12.0", "1.13.0"),
    ]


def test_a_project_whose_config_is_broken_is_said_so_on_upgrades_not_counted(tmp_path, make_app):
    root = write_workspace(tmp_path / "ws", ["good", "broken"])
    write_project(root / "good", "good")
    (root / "broken").mkdir()
    (root / "broken" / "pyproject.toml").write_text('[tool.dg]\ndirectory_type = "project"\nx = \n')
    client = make_app(root).test_client()

    section = wait_for(
        lambda: (
            (match := re.search(r'data-project="broken">(.*?)</section>', client.get("/upgrades").text, re.S))
            and match.group(1)
        )
    )
    assert "its config has an error" in section
    assert "does not exist yet" not in section and "outdated package" not in section
