"""Does each project load? What envboard says where no real dg can run (offline).

Real Dagster cannot be installed offline, and no stand-in could honestly play
`dg check defs`; the verdicts against real dg are in test_real_load_check.py. Here:
projects that cannot be loaded at all, as the overview, the JSON twins, /metrics and
`envboard check` tell them.
"""

import json
import re

from tests.conftest import write_project, write_workspace
from tests.test_cli import envboard


def _workspace(tmp_path):
    root = write_workspace(tmp_path / "ws", ["plain", "broken"])
    write_project(root / "plain", "plain", mode="persistent_uv")
    broken = write_project(root / "broken", "broken")
    (broken / "pyproject.toml").write_text('[tool.dg]\ndirectory_type = "project"\n[tool.dg.project\n')
    return root


def test_the_command_line_fails_a_project_whose_config_cannot_be_read_with_its_location(tmp_path):
    root = _workspace(tmp_path)
    result = envboard("check", "--json", "--workspace", str(root), "--state-dir", str(tmp_path / "s"))
    assert result.returncode == 1, result.stderr
    by_id = {p["id"]: p for p in json.loads(result.stdout)["projects"]}
    assert set(by_id) == {"plain", "broken"}
    broken = by_id["broken"]
    assert broken["loads"] is False and broken["definitions"] is None
    assert broken["error"]["file"] == str(root / "broken" / "pyproject.toml")
    assert broken["error"]["line"] == 3
    # no environment yet: nothing to load it in, which is neither a pass nor a failure
    assert by_id["plain"]["loads"] is None and by_id["plain"]["error"] is None
    assert set(by_id["plain"]) == {"id", "name", "loads", "error", "definitions", "checked_at_iso"}


def test_the_command_line_passes_when_nothing_fails_and_says_what_it_could_not_check(tmp_path):
    root = write_workspace(tmp_path / "ws", ["plain"])
    write_project(root / "plain", "plain", mode="persistent_uv")
    result = envboard("check", "plain", "--workspace", str(root), "--state-dir", str(tmp_path / "s"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("plain: not checked (no environment at ")
    assert "envboard: plain was not checked" in result.stderr


def test_the_overview_and_the_json_twins_say_why_a_project_is_not_checked(tmp_path, make_app):
    root = _workspace(tmp_path)
    client = make_app(root).test_client()
    page = client.get("/").get_data(as_text=True)
    assert '<th scope="col">Loads</th>' in page
    cells = dict(re.findall(r'id="project-(\w+)".*?data-check="(\w+)"', page, re.S))
    assert cells == {"plain": "not_applicable", "broken": "not_applicable"}
    check = client.get("/api/projects/plain").get_json()["definitions_check"]
    assert check["status"] == "not_applicable" and check["loads"] is None
    assert check["why"].startswith("no environment at ")
    twin = client.get("/api/projects/plain/definitions").get_json()
    assert twin["status"] == "not_applicable" and twin["keys"] == {}
    section = client.get("/projects/plain/fragments/definitions").get_data(as_text=True)
    assert "not applicable" in section and "no environment at" in section
    # nothing checked, nothing claimed: no loads gauge for either
    assert "envboard_project_loads{" not in client.get("/metrics").get_data(as_text=True)


def test_check_and_check_all_are_posts_with_the_csrf_token(tmp_path, make_app):
    root = _workspace(tmp_path)
    client = make_app(root).test_client()
    page = client.get("/").get_data(as_text=True)
    assert 'id="check-all"' in page
    token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    assert client.post("/projects/plain/check").status_code == 403
    assert client.post("/check-all").status_code == 403
    checked = client.post("/projects/plain/check", data={"csrf_token": token})
    assert checked.status_code == 303 and checked.headers["Location"].endswith("/projects/plain")
    refused = client.post("/projects/broken/check", headers={"X-CSRF-Token": token, "HX-Request": "1"})
    assert refused.status_code == 409 and "config has an error" in refused.get_data(as_text=True)
    assert client.post("/check-all", data={"csrf_token": token}).status_code == 303


def test_the_bytecode_a_check_leaves_behind_does_not_make_its_answer_stale(tmp_path, make_board):
    """A check runs the project's code, which writes `__pycache__` folders (and dg, without
    DAGSTER_HOME, a `.tmp_dagster_home_*`): that alone must not ask for the check again, while
    a new module must."""
    from webapp.core.disk.cache import stamp_all
    from webapp.core.probe.loadcheck import dependencies

    root = write_workspace(tmp_path / "ws", ["p"])
    write_project(root / "p", "p")
    source = root / "p" / "src" / "p"
    source.mkdir(parents=True)
    (source / "__init__.py").write_text("")
    board = make_board(root)
    project = board.workspace.projects[0]
    env = board.resolve(project)
    before = stamp_all(dependencies(project, env))
    (source / "__pycache__").mkdir()
    (root / "p" / ".tmp_dagster_home_x1").mkdir()
    assert stamp_all(dependencies(project, env)) == before
    (source / "assets.py").write_text("")
    assert stamp_all(dependencies(project, env)) != before


def test_the_bytecode_of_an_environment_s_first_import_does_not_make_answers_stale(tmp_path):
    """Importing top-level modules writes `site-packages/__pycache__` the first time (when
    bytecode is written at all): what is installed has not changed, so neither has its stamp."""
    from webapp.core.disk.cache import site_packages_stamp

    site = tmp_path / "site-packages"
    site.mkdir()
    (site / "six.py").write_text("")
    (site / "six-1.16.0.dist-info").mkdir()
    before = site_packages_stamp(site)
    (site / "__pycache__").mkdir()
    assert site_packages_stamp(site) == before
    (site / "idna").mkdir()  # a package installed by hand
    assert site_packages_stamp(site) != before
