"""Versions across projects, packages against the lock, lock status and named drift:
pages, JSON twins and the command line, over real uv projects."""

import json
import re
import shutil
import subprocess
import sys

import pytest

from tests.conftest import (
    add_dependency,
    build_dagster_stand_in,
    build_wheel,
    core,
    install_by_hand,
    uv,
    wait_for,
    write_project,
    write_workspace,
)
from webapp.cli import main as cli_main


def wheelhouse_with(base, folder, dagster: str, shared: str):
    """The session's wheels, with this dagster stand-in version and a `shared-lib` version."""
    shutil.copytree(base, folder)
    for old in folder.glob("dagster-*.whl"):
        old.unlink()
    build_dagster_stand_in(folder, dagster)
    build_wheel(folder, "shared-lib", shared, {"shared_lib/__init__.py": ""})
    return folder


def skewed_workspace(tmp_path, wheelhouse, uv_bin):
    """alpha: dagster 0.0.1, shared-lib 1.0.0, acme-plugin; beta: dagster 0.0.2, shared-lib 2.0.0;
    gamma: an active-mode project with no environment of its own."""
    root = write_workspace(tmp_path / "ws", ["projects/alpha", "projects/beta", "projects/gamma"])
    old = wheelhouse_with(wheelhouse, tmp_path / "wheels-old", "0.0.1", "1.0.0")
    new = wheelhouse_with(wheelhouse, tmp_path / "wheels-new", "0.0.2", "2.0.0")
    alpha = write_project(
        root / "projects" / "alpha",
        "alpha",
        mode="persistent_uv",
        dependencies=("dagster", "acme-plugin", "shared-lib"),
        wheelhouse=old,
    )
    beta = write_project(
        root / "projects" / "beta",
        "beta",
        mode="persistent_uv",
        dependencies=("dagster", "shared-lib"),
        wheelhouse=new,
    )
    write_project(root / "projects" / "gamma", "gamma", mode="active")
    uv(uv_bin, "sync", cwd=alpha)
    uv(uv_bin, "sync", cwd=beta)
    return root


@pytest.fixture
def skewed(tmp_path, wheelhouse, uv_bin):
    return skewed_workspace(tmp_path, wheelhouse, uv_bin)


def settled(client, project_ids=("projects-alpha", "projects-beta")):
    """Wait until the monitor has the probe's packages and uv's lock check for every uv project."""

    def ready():
        for project_id in project_ids:
            data = client.get(f"/api/projects/{project_id}").get_json()
            env = data["environment"]
            if env["package_count"] is None or env["lock"]["status"] == "checking":
                return False
            if env["status"] == "checking":
                return False
        return True

    wait_for(ready, timeout=120)


def test_api_versions_is_the_matrix_of_shared_packages_with_skew(skewed, make_app):
    app = make_app(skewed)
    client = app.test_client()
    settled(client)
    # the JSON twin opens where the page does: the Dagster family and Python
    family = client.get("/api/versions").get_json()["packages"]
    assert {row["name"] for row in family} == {"python", "dagster"}
    data = client.get("/api/versions?all=1").get_json()
    assert list(data) == ["projects", "packages", "warnings"]
    assert data["projects"] == [
        {"id": "projects-alpha", "name": "alpha"},
        {"id": "projects-beta", "name": "beta"},
        {"id": "projects-gamma", "name": "gamma"},
    ]
    rows = {row["name"]: row for row in data["packages"]}
    assert data["packages"][0]["name"] == "python"  # Python leads, then the packages by name
    assert [row["name"] for row in data["packages"][1:]] == sorted(rows.keys() - {"python"})
    for row in data["packages"]:
        assert list(row) == ["name", "versions", "skew", "newer"]
        assert set(row["versions"]) == {"projects-alpha", "projects-beta", "projects-gamma"}
    assert rows["dagster"] == {
        "name": "dagster",
        "versions": {"projects-alpha": "0.0.1", "projects-beta": "0.0.2", "projects-gamma": None},
        "skew": True,
        "newer": {},  # offline, as every test's uv: no newer release is known
    }
    assert rows["shared-lib"]["skew"] is True
    assert rows["shared-lib"]["versions"]["projects-beta"] == "2.0.0"
    # acme-plugin is only in alpha: not shared, so not in the matrix
    assert "acme-plugin" not in rows
    python = rows["python"]["versions"]
    assert python["projects-alpha"] == python["projects-beta"] == ".".join(map(str, sys.version_info[:3]))
    assert rows["python"]["skew"] is False
    # the Dagster family only, and a filter by name
    assert client.get("/api/versions?all=0").get_json()["packages"] == family
    assert [r["name"] for r in client.get("/api/versions?all=1&q=shared").get_json()["packages"]] == [
        "shared-lib"
    ]


def test_versions_page_opens_on_the_dagster_family_and_keeps_its_filter_in_the_url(skewed, make_app):
    app = make_app(skewed)
    client = app.test_client()
    settled(client)
    page = client.get("/").get_data(as_text=True)
    assert 'href="/versions"' in page  # in the top navigation
    page = client.get("/versions").get_data(as_text=True)
    assert 'data-package="dagster" data-skew="true"' in page
    assert 'data-package="python" data-skew="false"' in page
    assert "shared-lib" not in page  # not Dagster's: only with the toggle
    page = client.get("/versions?all=1").get_data(as_text=True)
    assert 'data-package="shared-lib" data-skew="true"' in page
    assert 'id="versions-all" checked' in page
    page = client.get("/versions?all=1&q=shared").get_data(as_text=True)
    assert 'data-package="shared-lib"' in page and 'data-package="dagster"' not in page
    assert 'value="shared"' in page
    page = client.get("/versions?q=nothing-like-this").get_data(as_text=True)
    assert 'id="versions-empty"' in page


def live_part(html: str, element_id: str) -> str:
    """The polled element of a page or fragment, from its opening tag to the end of the body."""
    match = re.search(rf'<div id="{element_id}".*</div>', html, re.S)
    assert match, html
    return match.group(0)


def poll_url(html: str, element_id: str) -> str:
    return re.search(rf'<div id="{element_id}"[^>]*hx-get="([^"]+)"', html).group(1).replace("&amp;", "&")


def test_versions_and_packages_fragments_answer_204_until_the_environment_changes(
    skewed, make_app, uv_bin, tmp_path
):
    """The pages poll their changing part with the page's filters and the snapshot's token: nothing
    new is a 204; a package installed by hand comes back as new HTML, still filtered."""
    client = make_app(skewed).test_client()
    settled(client)

    def quiet(page_url: str, element_id: str) -> str:
        """The poll URL of a fresh page once the monitor has nothing more to publish."""

        def answer():
            url = poll_url(client.get(page_url).get_data(as_text=True), element_id)
            return url if client.get(url).status_code == 204 else None

        return wait_for(answer, timeout=60)

    versions_poll = quiet("/versions?all=1&q=shared", "versions-live")
    packages_poll = quiet("/projects/projects-alpha/packages?q=shared", "packages-live")
    assert (
        versions_poll.startswith("/fragments/versions?")
        and "q=shared" in versions_poll
        and "all=1" in versions_poll
    )
    assert (
        packages_poll.startswith("/projects/projects-alpha/fragments/packages?")
        and "q=shared" in packages_poll
    )
    # the page includes the fragment: the same HTML whole or swapped in
    unpolled = re.sub(r"since=\d+&?", "", versions_poll)
    assert live_part(client.get(unpolled).get_data(as_text=True), "versions-live") == live_part(
        client.get("/versions?all=1&q=shared").get_data(as_text=True), "versions-live"
    )

    newer = next((tmp_path / "wheels-new").glob("shared_lib-*.whl"))
    install_by_hand(uv_bin, skewed / "projects" / "alpha", str(newer))

    def changed(url: str, marker: str):
        response = client.get(url)
        body = response.get_data(as_text=True)
        return body if response.status_code == 200 and marker in body else None

    alpha_cell = '<td data-project="projects-alpha" data-version="2.0.0">'
    versions = wait_for(lambda: changed(versions_poll, alpha_cell), timeout=60)
    # alpha now has beta's shared-lib: no skew left; the filters still hold (no dagster row)
    assert re.search(r'<div id="versions-live"[^>]*hx-get="/fragments/versions\?[^"]*q=shared', versions)
    assert 'data-package="shared-lib" data-skew="false"' in versions
    assert 'data-package="dagster"' not in versions and "1 of " in versions
    packages = wait_for(
        lambda: changed(packages_poll, 'data-package="shared-lib" data-differs="true"'), timeout=60
    )
    assert re.search(r"1 of \d+ packages · 1 not as the lock pins", packages)  # uv.lock pins 1.0.0
    assert 'data-package="acme-plugin"' not in packages  # the page's filter, kept
    # the new answer carries a new token, which is quiet again
    assert poll_url(versions, "versions-live") != versions_poll
    assert quiet("/versions?all=1&q=shared", "versions-live") != versions_poll
    assert client.get("/projects/nope/fragments/packages").status_code == 404


def test_packages_page_and_json_against_the_lock(skewed, make_app, uv_bin, wheelhouse):
    alpha_dir = skewed / "projects" / "alpha"
    wheel = next(wheelhouse.glob("extra_plugin-*.whl"))
    install_by_hand(uv_bin, alpha_dir, str(wheel))
    app = make_app(skewed)
    client = app.test_client()
    settled(client)
    data = client.get("/api/projects/projects-alpha/packages").get_json()
    assert list(data) == ["project", "packages"]
    assert data["project"] == "projects-alpha"
    names = [p["name"] for p in data["packages"]]
    assert names == sorted(names)
    rows = {p["name"]: p for p in data["packages"]}
    for row in data["packages"]:
        assert list(row) == ["name", "version", "locked", "planned", "direct", "latest", "latest_unknown"]
    # offline (as every test's uv), a release uv has not seen is not known: null, and why
    assert all(row["latest"] is None and row["latest_unknown"] for row in data["packages"])
    rows = {name: {k: v for k, v in row.items() if k != "latest_unknown"} for name, row in rows.items()}
    assert rows["extra-plugin"] == {
        "name": "extra-plugin",
        "version": "2.0.0",
        "locked": None,
        "planned": None,
        "direct": False,
        "latest": None,
    }
    assert rows["acme-plugin"] == {
        "name": "acme-plugin",
        "version": "1.0.0",
        "locked": "1.0.0",
        "planned": None,
        "direct": True,
        "latest": None,
    }
    assert rows["shared-lib"]["direct"] is True and rows["shared-lib"]["locked"] == "1.0.0"
    filtered = client.get("/api/projects/projects-alpha/packages?q=plugin").get_json()["packages"]
    assert [p["name"] for p in filtered] == ["acme-plugin", "extra-plugin"]
    page = client.get("/projects/projects-alpha/packages").get_data(as_text=True)
    assert 'data-package="extra-plugin" data-differs="true"' in page
    assert 'data-package="acme-plugin" data-differs="false"' in page
    assert "not in the lock" in page
    # an active project: no lock to compare, every locked is null
    gamma = client.get("/api/projects/projects-gamma/packages").get_json()
    assert gamma["project"] == "projects-gamma"
    assert all(p["locked"] is None for p in gamma["packages"])
    assert client.get("/api/projects/nope/packages").status_code == 404
    assert client.get("/projects/nope/packages").status_code == 404


def test_a_locked_package_removed_by_hand_is_listed_as_missing(skewed, make_app, uv_bin):
    """uv's own plan says `uv sync` would install it again: the Packages page lists it, not installed."""
    alpha_dir = skewed / "projects" / "alpha"
    uv(uv_bin, "pip", "uninstall", "--python", ".venv/bin/python", "acme-plugin", cwd=alpha_dir)
    client = make_app(skewed).test_client()

    def known() -> bool:  # uv's plan and the probe's package list have both come in
        data = client.get("/api/projects/projects-alpha").get_json()
        return bool(data["environment"]["drift"]) and data["plugins"] is not None

    wait_for(known, timeout=60)
    rows = {p["name"]: p for p in client.get("/api/projects/projects-alpha/packages").get_json()["packages"]}
    assert rows["acme-plugin"] == {
        "name": "acme-plugin",
        "version": None,
        "locked": "1.0.0",
        "planned": "1.0.0",
        "direct": True,
        "latest": None,
        "latest_unknown": "not installed",
    }
    page = client.get("/projects/projects-alpha/packages").get_data(as_text=True)
    assert 'data-package="acme-plugin" data-differs="true"' in page and "not installed" in page


def test_lock_status_named_drift_and_versions_on_the_project_page(skewed, make_app, uv_bin, wheelhouse):
    alpha_dir = skewed / "projects" / "alpha"
    wheel = next(wheelhouse.glob("extra_plugin-*.whl"))
    install_by_hand(uv_bin, alpha_dir, str(wheel))
    app = make_app(skewed)
    client = app.test_client()
    settled(client)
    env = client.get("/api/projects/projects-alpha").get_json()["environment"]
    assert env["lock"] == {"status": "up_to_date", "present": True, "reason": env["lock"]["reason"]}
    assert env["drift"] == [
        {"name": "extra-plugin", "action": "remove", "installed": "2.0.0", "locked": None}
    ]
    assert env["dagster_version"] == "0.0.1"
    page = client.get("/projects/projects-alpha").get_data(as_text=True)
    assert 'data-lock-status="up_to_date"' in page
    assert "out of sync: 1 to remove" in page
    assert "<code>extra-plugin</code>:" in page
    assert 'id="dagster-version">0.0.1<' in page
    rows = client.get("/").get_data(as_text=True)
    alpha_row = re.search(r'<tr id="project-projects-alpha".*?</tr>', rows, re.S).group(0)
    assert 'data-status="out_of_sync"' in alpha_row and "out of sync: 1 to remove" in alpha_row
    assert ">0.0.1<" in alpha_row
    assert 'id="project-projects-alpha"' in client.get("/?status=out_of_sync").get_data(as_text=True)
    assert client.get("/api/projects/projects-gamma").get_json()["environment"]["lock"] is None

    # the lock falls behind pyproject.toml: uv lock --check says so, and the page tells it
    add_dependency(alpha_dir, "extra-plugin", wheel)
    core(app).monitor.refresh()

    def outdated():
        lock = client.get("/api/projects/projects-alpha").get_json()["environment"]["lock"]
        return lock if lock["status"] == "outdated" else None

    lock = wait_for(outdated, timeout=120)
    assert lock["present"] is True and lock["reason"]
    page = client.get("/projects/projects-alpha").get_data(as_text=True)
    assert 'data-lock-status="outdated"' in page and "uv lock --check says" in page

    # no lock at all
    (alpha_dir / "uv.lock").unlink()
    core(app).monitor.refresh()
    wait_for(
        lambda: (
            client.get("/api/projects/projects-alpha").get_json()["environment"]["lock"]
            == {"status": "absent", "present": False, "reason": f"no uv.lock at {alpha_dir / 'uv.lock'}"}
        ),
        timeout=60,
    )
    assert 'data-lock-status="absent"' in client.get("/projects/projects-alpha").get_data(as_text=True)


def test_the_lock_check_runs_in_the_background_once_not_per_view(skewed, make_app):
    app = make_app(skewed)
    client = app.test_client()
    settled(client)
    board = core(app).board
    calls = []
    original = board.lock_inspector.facts
    board.lock_inspector.facts = lambda *a, **k: calls.append(a) or original(*a, **k)
    for _ in range(5):
        client.get("/projects/projects-alpha")
        client.get("/versions")
        client.get("/projects/projects-alpha/packages")
        core(app).monitor.refresh()
    assert calls == []  # cached on the files' stamps: no new `uv lock --check`


def run_cli(*args, capsys):
    code = cli_main(list(args))
    out = capsys.readouterr().out
    return code, out


def test_cli_versions_and_packages(skewed, tmp_path, capsys, make_app):
    state = str(tmp_path / "cli-state")
    code, out = run_cli("versions", "--workspace", str(skewed), "--state-dir", state, "--json", capsys=capsys)
    assert code == 0
    family = json.loads(out)  # the page's default: the Dagster family and Python
    assert {row["name"] for row in family["packages"]} == {"python", "dagster"}
    code, out = run_cli(
        "versions", "--workspace", str(skewed), "--state-dir", state, "--json", "--all", capsys=capsys
    )
    assert code == 0
    data = json.loads(out)
    rows = {row["name"]: row for row in data["packages"]}
    assert rows["dagster"]["skew"] is True and rows["dagster"]["versions"]["projects-beta"] == "0.0.2"
    assert "shared-lib" in rows
    client = make_app(skewed).test_client()
    # the server's monitor reaches the same answer in its own time: the JSON twin's very object
    wait_for(lambda: client.get("/api/versions?all=1").get_json() == data, timeout=120)

    code, out = run_cli("versions", "--workspace", str(skewed), "--state-dir", state, capsys=capsys)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["PACKAGE", "alpha", "beta", "gamma"]
    dagster = next(line for line in lines if line.startswith("dagster "))
    assert dagster.split() == ["dagster", "0.0.1", "0.0.2", "-", "skew"]

    code, out = run_cli(
        "packages",
        "projects-alpha",
        "--workspace",
        str(skewed),
        "--state-dir",
        state,
        "--json",
        capsys=capsys,
    )
    assert code == 0
    data = json.loads(out)
    assert data["project"] == "projects-alpha"
    expected = {
        "name": "acme-plugin",
        "version": "1.0.0",
        "locked": "1.0.0",
        "planned": None,
        "direct": True,
        "latest": None,
        "latest_unknown": "uv runs offline (UV_OFFLINE): newer releases on the index are not seen",
    }
    assert expected in data["packages"]

    code, out = run_cli("packages", "alpha", "--workspace", str(skewed), "--state-dir", state, capsys=capsys)
    assert code == 0
    header, *rows = out.splitlines()
    assert header.split() == ["PACKAGE", "INSTALLED", "LOCKED", "DIRECT", "LATEST"]
    assert any(line.split()[:4] == ["acme-plugin", "1.0.0", "1.0.0", "yes"] for line in rows)

    with pytest.raises(SystemExit) as exit_:
        cli_main(["packages", "nope", "--workspace", str(skewed), "--state-dir", state])
    assert exit_.value.code == 2
    assert "no project 'nope'" in capsys.readouterr().err


def test_cli_list_shows_dagster_dg_and_package_count(skewed, tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "webapp",
            "list",
            "--workspace",
            str(skewed),
            "--state-dir",
            str(tmp_path / "s"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    header = next(line for line in lines if line.startswith("ID"))
    assert header.split()[:7] == ["ID", "MODE", "STATUS", "PYTHON", "DAGSTER", "DG", "PACKAGES"]
    alpha = next(line for line in lines if line.startswith("projects-alpha"))
    assert alpha.split()[4] == "0.0.1" and alpha.split()[5] == "-" and int(alpha.split()[6]) >= 3


def test_a_sync_records_what_it_changed_in_packages(skewed, make_app, uv_bin, wheelhouse, tmp_path):
    alpha_dir = skewed / "projects" / "alpha"
    extra = next(wheelhouse.glob("extra_plugin-*.whl"))
    newer = next((tmp_path / "wheels-new").glob("shared_lib-*.whl"))
    install_by_hand(uv_bin, alpha_dir, str(extra), str(newer))
    app = make_app(skewed)
    client = app.test_client()
    settled(client)
    env = client.get("/api/projects/projects-alpha").get_json()["environment"]
    assert env["drift"] == [
        {"name": "extra-plugin", "action": "remove", "installed": "2.0.0", "locked": None},
        {"name": "shared-lib", "action": "change", "installed": "2.0.0", "locked": "1.0.0"},
    ]
    page = client.get("/projects/projects-alpha").get_data(as_text=True)
    assert "out of sync: 1 to remove, 1 to change" in page
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    response = client.post("/projects/projects-alpha/sync", headers={"X-CSRF-Token": csrf})
    job_id = response.headers["Location"].rsplit("/", 1)[1]
    job = wait_for(lambda: (j := client.get(f"/api/jobs/{job_id}").get_json())["ended_at"] and j, timeout=120)
    assert job["status"] == "succeeded"
    # exactly what uv's plan said before the sync
    assert job["detail"]["package_diff"] == {
        "added": [],
        "removed": [{"name": "extra-plugin", "version": "2.0.0"}],
        "changed": [{"name": "shared-lib", "from": "2.0.0", "to": "1.0.0"}],
    }
    page = client.get(f"/jobs/{job_id}").get_data(as_text=True)
    diff = re.search(r'<div class="package-diff".*?</div>', page, re.S).group(0)
    assert "<code>extra-plugin</code> 2.0.0" in diff and "<code>shared-lib</code> 2.0.0 → 1.0.0" in diff


def test_the_odd_versions_are_the_ones_most_projects_do_not_have(tmp_path):
    """The matrix itself, from the states the probe fills (a pure function of them)."""
    from webapp.core.live.state import ProjectState
    from webapp.core.pages.inventory import VersionFilters, version_matrix
    from webapp.core.probe.answer import PluginList
    from webapp.core.workspace.scan import Project

    def state(name, packages, failure=None):
        project = Project(id=name, name=name, path=tmp_path / name, rel_path=name)
        listed = [{"name": n, "version": v} for n, v in packages.items()]
        return ProjectState(project, plugins=PluginList(packages=listed, failure=failure))

    states = [
        state("a", {"dagster": "1.13.2", "pandas": "2.0", "only-a": "1"}),
        state("b", {"dagster": "1.13.2", "pandas": "2.1", "dagster-dbt": "0.29.2"}),
        state("c", {"dagster": "1.12.0", "pandas": "2.2"}),
        state("d", {}, failure="the probe exited 1"),
    ]
    matrix = version_matrix(states)
    rows = {row.name: row for row in matrix.rows}
    assert matrix.waiting == ["d"]
    assert rows["dagster"].skew and rows["dagster"].common == "1.13.2"  # c is the odd one out
    assert rows["pandas"].skew and rows["pandas"].common is None  # three versions: none is common
    assert "only-a" not in rows  # in one project only
    assert rows["dagster-dbt"].versions == {"a": None, "b": "0.29.2", "c": None, "d": None}  # Dagster's: kept
    assert not rows["dagster-dbt"].skew
    family = version_matrix(states, VersionFilters(scope="dagster"))
    assert [row.name for row in family.rows] == ["python", "dagster", "dagster-dbt"]


def test_a_polled_part_of_a_page_whose_project_left_the_workspace_says_so_and_comes_back(skewed, make_app):
    """htmx swaps no 404, so a part of a Packages or project page polling for a project removed
    from the workspace would poll on unseen: it gets a notice in its place that goes on asking
    the same address (its filters kept), and gets the part back when the project returns."""
    app = make_app(skewed)
    client = app.test_client()
    settled(client)
    listing = (skewed / "dg.toml").read_text()
    (skewed / "dg.toml").write_text(listing.replace('path = "projects/alpha"', 'path = "projects/nowhere"'))
    core(app).monitor.refresh()
    for fragment, element_id in (("packages", "packages-live"), ("environment", "environment")):
        url = f"/projects/projects-alpha/fragments/{fragment}?since=7&q=shared"
        polled = client.get(url, headers={"HX-Request": "true", "HX-Target": element_id})
        body = polled.get_data(as_text=True)
        assert polled.status_code == 200, fragment
        assert "projects-alpha is no longer in this workspace" in body
        again = f"/projects/projects-alpha/fragments/{fragment}?q=shared"
        assert f'id="{element_id}"' in body and f'hx-get="{again}"' in body and "data-poll" in body
        assert client.get(url).status_code == 404  # not from htmx: the error page, as before
    # a button's request gets the reason as a notice (the page shows it where it says what happened)
    refused = client.post(
        "/projects/projects-alpha/sync", headers={"HX-Request": "true", "Sec-Fetch-Site": "same-origin"}
    )
    assert refused.status_code == 404
    assert refused.get_data(as_text=True).startswith('<p class="error-box">no project with id')
    (skewed / "dg.toml").write_text(listing)
    core(app).monitor.refresh()
    back = client.get("/projects/projects-alpha/fragments/packages?q=shared", headers={"HX-Request": "true"})
    assert back.status_code == 200 and 'id="packages-live"' in back.get_data(as_text=True)
    assert 'data-package="shared-lib"' in back.get_data(as_text=True)


def test_a_page_left_open_across_a_restart_is_refreshed_by_the_new_server(skewed, make_app, tmp_path):
    """The poll token is the snapshot's version; a new server's versions must not start where
    an old page's token may be, or the page would be told nothing changed."""
    first = make_app(skewed, state_dir=tmp_path / "state")
    settled(first.test_client())
    old_token = core(first).monitor.snapshot.version
    core(first).close()
    second = make_app(skewed, state_dir=tmp_path / "state")
    client = second.test_client()
    settled(client)
    core(second).monitor.refresh()
    # versions go on growing across the restart, so no old token can ever match a new one
    assert core(second).monitor.snapshot.version > old_token
    assert client.get(f"/fragments/versions?since={old_token}").status_code == 200
    token = core(second).monitor.snapshot.version
    assert client.get(f"/fragments/versions?since={token}").status_code == 204


def test_a_project_whose_packages_are_not_known_is_not_said_to_lack_them(skewed, make_app):
    """A uv project never synced has no environment: its cells read "not known", not "not installed"."""
    write_project(skewed / "projects" / "delta", "delta", mode="persistent_uv")
    listing = (skewed / "dg.toml").read_text()
    (skewed / "dg.toml").write_text(listing + '\n[[workspace.projects]]\npath = "projects/delta"\n')
    client = make_app(skewed).test_client()
    settled(client)
    page = client.get("/versions").get_data(as_text=True)
    delta = re.search(r'<tr class="version-row[^"]*" data-package="python".*?</tr>', page, re.S).group(0)
    cells = re.findall(r'<td data-project="([^"]+)"[^>]*>(.*?)</td>', delta, re.S)
    said = {project: re.sub(r"<[^>]+>", "", html).strip() for project, html in cells}
    assert said["projects-delta"] == "?not known"
    assert "not installed" not in said["projects-delta"] and said["projects-alpha"].startswith("3.")
