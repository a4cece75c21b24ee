"""Every route and fragment through Flask's test client, over real workspaces."""

import re

from tests.conftest import core, idle, wait_for, write_project, write_workspace


def csrf(client) -> str:
    page = client.get("/").get_data(as_text=True)
    return re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)


def mixed_workspace(tmp_path):
    root = write_workspace(tmp_path / "ws", ["projects/alpha", "projects/beta", "projects/bad"])
    write_project(root / "projects" / "alpha", "alpha", mode="persistent_uv")
    write_project(root / "projects" / "beta", "beta")
    (root / "projects" / "bad").mkdir(parents=True)
    (root / "projects" / "bad" / "pyproject.toml").write_text(
        '[tool.dg]\ndirectory_type = "project"\nx = [\n'
    )
    return root


def test_overview_lists_every_project_with_its_state(tmp_path, make_app):
    app = make_app(mixed_workspace(tmp_path))
    client = app.test_client()
    response = client.get("/")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    for name in ("alpha", "beta", "bad"):
        assert f'id="project-projects-{name}"' in page
    assert "missing" in page  # alpha has no .venv
    assert "invalid TOML" in page
    assert "single-user mode" in page
    assert response.headers["Content-Security-Policy"].startswith("default-src 'self'")
    assert response.headers["X-Frame-Options"] == "DENY"


def test_rows_fragment_filters_and_answers_204_when_nothing_changed(tmp_path, make_app):
    app = make_app(mixed_workspace(tmp_path))
    client = app.test_client()
    body = client.get("/fragments/rows?q=alp").get_data(as_text=True)
    assert 'id="project-projects-alpha"' in body and "projects-beta" not in body
    assert body.lstrip().startswith('<tbody id="rows"')
    body = client.get("/fragments/rows?mode=active").get_data(as_text=True)
    assert "projects-beta" in body and "projects-alpha" not in body
    body = client.get("/fragments/rows?status=error").get_data(as_text=True)
    assert "projects-bad" in body and "projects-beta" not in body
    wait_for(lambda: client.get(f"/fragments/rows?since={poll_token(client)}").status_code == 204, timeout=30)


def poll_token(client, query: str = "") -> str:
    body = client.get(f"/fragments/rows?{query}").get_data(as_text=True)
    return re.search(r"since=([\d.]+)", body).group(1)


def test_a_job_that_changes_nothing_on_disk_still_reaches_the_rows(tmp_path, make_app):
    """Queued, running, ended: each changes what a row shows ("Syncing…"), so pollers get new rows."""
    root = mixed_workspace(tmp_path)
    app = make_app(root)
    client = app.test_client()
    wait_for(lambda: client.get(f"/fragments/rows?since={poll_token(client)}").status_code == 204, timeout=30)
    before = poll_token(client)
    jobs = core(app).jobs
    project = core(app).board.project("projects-alpha")
    record, _ = jobs.sync(project, "alice")  # whatever uv then does on disk, the rows must show the job
    assert client.get(f"/fragments/rows?since={before}").status_code == 200
    assert jobs.wait(record.id, timeout=60).finished
    wait_for(lambda: client.get(f"/fragments/rows?since={poll_token(client)}").status_code == 204, timeout=30)
    assert poll_token(client) != before


def test_the_same_row_renders_in_the_page_and_in_the_fragment(tmp_path, make_app):
    app = make_app(mixed_workspace(tmp_path))
    client = app.test_client()
    wait_for(lambda: "probing" not in client.get("/").get_data(as_text=True), timeout=30)
    page = client.get("/").get_data(as_text=True)
    fragment = client.get("/fragments/rows").get_data(as_text=True)

    def row(html, project_id):
        return re.search(rf'<tr id="project-{project_id}".*?</tr>', html, re.S).group(0)

    for project_id in ("projects-alpha", "projects-beta", "projects-bad"):
        assert row(page, project_id) == row(fragment, project_id)


def test_project_page_shows_the_environment_in_full(tmp_path, make_app):
    root = mixed_workspace(tmp_path)
    app = make_app(root)
    client = app.test_client()
    # paths carry <wbr> after each separator so that they wrap at folder boundaries
    page = client.get("/projects/projects-alpha").get_data(as_text=True).replace("<wbr>", "")
    assert "persistent_uv" in page
    assert f"{root}/projects/alpha/pyproject.toml:" in page
    assert f"{root}/projects/alpha/.venv" in page
    assert " run --no-sync python " in page  # the probe's command line: looking never syncs
    assert " sync --color always" in page  # and the sync's
    assert "sync the project to create it" in page
    beta = client.get("/projects/projects-beta").get_data(as_text=True)
    assert "not set" in beta and "active environment" in beta
    bad = client.get("/projects/projects-bad").get_data(as_text=True)
    assert "Configuration error" in bad and "pyproject.toml:3" in bad


def test_unknown_ids_are_404_whatever_they_contain(tmp_path, make_app):
    client = make_app(mixed_workspace(tmp_path)).test_client()
    for bad in ("nope", "..%2F..%2Fetc", "%2e%2e", "a;rm -rf", "projects-alpha%00", "$(id)"):
        assert client.get(f"/projects/{bad}").status_code == 404
        assert client.get(f"/api/projects/{bad}").status_code == 404
    assert client.get("/api/projects/nope").get_json()["error"] == "not found"


def test_json_twins_have_the_keys_of_envboard_list(tmp_path, make_app):
    client = make_app(mixed_workspace(tmp_path)).test_client()
    report = client.get("/api/projects").get_json()
    assert set(report) >= {"workspace", "projects"}
    ids = [p["id"] for p in report["projects"]]
    assert ids == ["projects-alpha", "projects-beta", "projects-bad"]
    alpha = client.get("/api/projects/projects-alpha").get_json()
    assert set(alpha) >= {"id", "name", "path", "mode", "error", "environment", "plugins"}
    assert alpha["environment"]["status"] == "missing"
    assert client.get("/api/projects/projects-bad").get_json()["error"].startswith("invalid TOML")


def test_plugins_fragment_and_refresh_need_a_csrf_token(tmp_path, make_app):
    app = make_app(mixed_workspace(tmp_path))
    client = app.test_client()
    assert client.post("/projects/projects-beta/plugins/refresh").status_code == 403
    token = csrf(client)
    response = client.post(
        "/projects/projects-beta/plugins/refresh", headers={"X-CSRF-Token": token, "HX-Request": "true"}
    )
    assert response.status_code == 200
    assert 'id="plugins"' in response.get_data(as_text=True)
    fragment = wait_for(
        lambda: (
            "Registry modules"
            in (body := client.get("/projects/projects-beta/fragments/plugins").get_data(as_text=True))
            and body
        ),
        timeout=30,
    )
    assert "Dagster is not importable" in fragment
    cross = client.post(
        "/projects/projects-beta/plugins/refresh",
        headers={"X-CSRF-Token": token, "Sec-Fetch-Site": "cross-site"},
    )
    assert cross.status_code == 403


def test_plain_form_post_without_javascript_redirects_back(tmp_path, make_app):
    client = make_app(mixed_workspace(tmp_path)).test_client()
    token = csrf(client)
    response = client.post("/projects/projects-beta/plugins/refresh", data={"csrf_token": token})
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/projects/projects-beta")


def test_static_htmx_is_vendored_and_pinned(tmp_path, make_app):
    client = make_app(mixed_workspace(tmp_path)).test_client()
    page = client.get("/").get_data(as_text=True)
    assert "/static/htmx-2.0.11.min.js" in page
    assert '"historyRestoreAsHxRequest": false' in page
    response = client.get("/static/htmx-2.0.11.min.js")
    assert response.status_code == 200 and b"htmx" in response.data[:200]


def test_the_json_twin_applies_the_same_filters_as_the_page(tmp_path, make_app):
    client = make_app(mixed_workspace(tmp_path)).test_client()
    for query, expected in (
        ("q=alp", {"projects-alpha"}),
        ("mode=active", {"projects-beta"}),
        ("status=error", {"projects-bad"}),
        ("", {"projects-alpha", "projects-beta", "projects-bad"}),
    ):
        data = client.get(f"/api/projects?{query}").get_json()
        assert {p["id"] for p in data["projects"]} == expected, query
        rows = set(
            re.findall(
                r'<tr id="project-([\w-]+)"', client.get(f"/fragments/rows?{query}").get_data(as_text=True)
            )
        )
        assert rows == expected, query
    assert client.get("/api/projects?mode=active").get_json()["filters"] == {
        "q": "",
        "mode": "active",
        "status": "",
    }


def test_the_mode_preview_has_a_json_twin_that_writes_nothing(tmp_path, make_app):
    root = mixed_workspace(tmp_path)
    pyproject = root / "projects" / "beta" / "pyproject.toml"
    before = pyproject.read_bytes()
    client = make_app(root).test_client()
    data = client.get("/api/projects/projects-beta/mode?to=persistent_uv").get_json()
    assert data["error"] is None and data["current_mode"] == "active"
    assert '+python_environment = "persistent_uv"' in data["diff"]
    assert data["venv"].endswith("projects/beta/.venv")
    page = client.get("/projects/projects-beta/mode?to=persistent_uv").get_data(as_text=True)
    assert "persistent_uv" in page and data["file_hash"] in page  # the form carries the same preview
    assert pyproject.read_bytes() == before
    refused = client.get("/api/projects/projects-beta/mode?to=conda")
    assert refused.status_code == 409 and "unknown mode" in refused.get_json()["error"]


def test_a_state_dir_removed_under_a_running_server_is_recreated(tmp_path, make_app):
    import shutil

    root = mixed_workspace(tmp_path)
    state = tmp_path / "state"
    client = make_app(root, state_dir=state).test_client()
    token = csrf(client)
    assert client.get("/history").status_code == 200
    idle(client.application)  # no probe is writing its answer into the state dir as it goes
    # removed as `rm -rf` would, again if the server wrote a file into it meanwhile
    wait_for(lambda: shutil.rmtree(state, ignore_errors=True) or not state.exists(), timeout=10)
    assert client.get("/history").status_code == 200
    assert client.get("/api/jobs").get_json() == {"jobs": []}
    response = client.get("/api/projects/projects-beta/mode?to=persistent_uv").get_json()
    written = client.post(
        "/projects/projects-beta/mode",
        data={"to": "persistent_uv", "file_hash": response["file_hash"], "csrf_token": token},
    )
    assert written.status_code == 303
    (job,) = client.get("/api/jobs").get_json()["jobs"]
    assert job["action"] == "mode" and job["status"] == "succeeded"


def test_the_active_python_is_reported_with_its_version(tmp_path, make_app):
    import subprocess

    client = make_app(mixed_workspace(tmp_path)).test_client()
    active = client.get("/api/projects").get_json()["active_python"]
    asked = subprocess.run(
        [active["python"], "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert active["version"] == asked.stdout.strip()


def test_a_registry_pattern_that_matches_nothing_is_named_on_the_project_page(tmp_path, make_app):
    root = write_workspace(tmp_path / "ws", ["p"])
    write_project(root / "p", "p", registry_modules=("nowhere.components.*",))
    client = make_app(root).test_client()

    def plugins():
        return client.get("/projects/p/fragments/plugins").get_data(as_text=True)

    wait_for(lambda: "matched no module" in plugins(), timeout=60)
    assert (
        "<code>nowhere.components.*</code> (from <code>registry_modules</code>) matched no module"
        in plugins()
    )
    assert "nowhere.components.*" in client.get("/projects/p").get_data(as_text=True)


def test_an_empty_overview_says_so_across_the_whole_table(tmp_path, make_app):
    """The "no projects" line spans every column of the table, and the status filter offers
    every status a row can show."""
    client = make_app(write_workspace(tmp_path / "ws", [])).test_client()
    page = client.get("/").get_data(as_text=True)
    header = page[page.index("<thead") : page.index("</thead>")]
    columns = len(re.findall(r"<th[ >]", header))
    empty = re.search(r'<td colspan="(\d+)"[^>]*>No projects found in this workspace', page)
    assert empty and int(empty.group(1)) == columns
    offered = re.findall(r'<option value="([a-z_]+)"', page[page.index('name="status"') :])
    assert {"in_sync", "out_of_sync", "missing", "unknown", "unmanaged", "error", "checking"} <= set(offered)


def test_every_template_compiles_with_the_apps_filters_and_globals(tmp_path, make_app):
    """The app compiles a template when it is first rendered, not at start: a template that
    cannot compile (a syntax error, a filter nobody registered) fails here, not on someone's page."""
    app = make_app(write_workspace(tmp_path / "ws", []))
    names = app.jinja_env.list_templates(extensions=["html"])
    assert "overview.html" in names and "fragments/row.html" in names
    for name in names:
        app.jinja_env.get_template(name)


def test_a_template_is_compiled_once_per_process_and_again_when_it_changes(tmp_path, make_app):
    """Every app of a process shares the compiled templates; an edited one is never served stale."""
    from jinja2 import Environment, FileSystemLoader

    from webapp.web.compiled import COMPILED, CompiledTemplates

    first = make_app(write_workspace(tmp_path / "ws1", []), state_dir=tmp_path / "s1")
    second = make_app(write_workspace(tmp_path / "ws2", []), state_dir=tmp_path / "s2")
    assert first.jinja_env.bytecode_cache is COMPILED is second.jinja_env.bytecode_cache

    class Counting(Environment):
        compiled = 0

        def compile(self, *args, **kwargs):
            Counting.compiled += 1
            return super().compile(*args, **kwargs)

    cache = CompiledTemplates()
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "page.html").write_text("one {{ x }}")

    def render() -> str:
        return (
            Counting(loader=FileSystemLoader(folder), bytecode_cache=cache)
            .get_template("page.html")
            .render(x=1)
        )

    assert render() == "one 1" and Counting.compiled == 1
    assert render() == "one 1" and Counting.compiled == 1  # a second app: nothing compiled again
    (folder / "page.html").write_text("two {{ x }}")
    assert render() == "two 1" and Counting.compiled == 2


def test_rows_rendered_ahead_are_the_bytes_a_request_renders_under_any_script_root(tmp_path, make_app):
    """The background thread renders rows with no request at all; a viewer's request, at the
    root or under a proxy's prefix, gets exactly what Flask's own url_for and templates make."""
    from flask import url_for

    from webapp.core.pages.overview import Filters
    from webapp.web.rows import RowCache
    from webapp.web.services import EXTENSION

    app = make_app(mixed_workspace(tmp_path))
    idle(app)
    envboard, rows = core(app), app.extensions[EXTENSION].rows
    snapshot = envboard.monitor.snapshot
    states = list(snapshot.states)

    def rendered_ahead():
        with rows._lock:  # the table the background thread rendered for this snapshot
            return next(
                (t for k, t in rows._tables.items() if k[0] == snapshot.version and k[-1] == ""), None
            )

    ahead = wait_for(rendered_ahead, timeout=30)
    with app.test_request_context("/"):
        # a cache of its own: rendered here, in a request, with Flask's url_for
        assert RowCache().table(states, snapshot, envboard.jobs, Filters(), None).text == ahead.text
    with app.test_request_context("/", base_url="http://localhost/board/"):
        below = RowCache().table(states, snapshot, envboard.jobs, Filters(), None).text
        link = url_for("projects.show", project_id="projects-alpha")
    assert link == "/board/projects/projects-alpha" and f'href="{link}"' in below
    assert below == ahead.text.replace('href="/', 'href="/board/').replace('action="/', 'action="/board/')
