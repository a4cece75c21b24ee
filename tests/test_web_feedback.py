"""Names, links, filters and times as people and scripts read them (Flask test client)."""

import re
from datetime import datetime

from tests.conftest import core, write_project, write_workspace


def _workspace_with_history(tmp_path, make_app):
    root = write_workspace(tmp_path / "ws", ["projects/alpha", "projects/beta"])
    write_project(root / "projects" / "alpha", "alpha-dist")
    write_project(root / "projects" / "beta", "beta-dist")
    app = make_app(root)
    history = core(app).jobs.history
    history.new_job("projects-alpha", str(root / "projects/alpha"), "sync", "alice")
    history.new_job("projects-beta", str(root / "projects/beta"), "sync", "bob")
    history.new_job("projects-beta", str(root / "projects/beta"), "mode", "alice")
    return app


def _rows(html: str) -> list[str]:
    body = html[html.index("<tbody") : html.index("</tbody>")]
    return re.findall(r"<tr>.*?</tr>", body, flags=re.S)


def test_the_history_names_and_links_projects_and_people(tmp_path, make_app):
    client = _workspace_with_history(tmp_path, make_app).test_client()
    html = client.get("/history").get_data(as_text=True)
    rows = _rows(html)
    assert len(rows) == 3
    assert '<a href="/projects/projects-beta">beta-dist</a>' in rows[0]
    assert '<a href="/history?who=alice">alice</a>' in rows[0]
    assert re.search(r'<a href="/jobs/[0-9a-f]{12}">', rows[0])
    assert ">projects-beta<" not in html  # the id is in links only, never read as a name


def test_the_history_filters_by_project_and_user_with_a_plain_form(tmp_path, make_app):
    client = _workspace_with_history(tmp_path, make_app).test_client()
    page = client.get("/history").get_data(as_text=True)
    form = page[page.index('<form class="filters" method="get" id="history-filter"') :]
    form = form[: form.index("</form>")]
    assert '<option value="projects-alpha" >alpha-dist</option>' in form
    assert '<option value="bob" >bob</option>' in form and '<button type="submit"' in form
    assert len(_rows(client.get("/history?project=projects-beta").get_data(as_text=True))) == 2
    assert len(_rows(client.get("/history?project=projects-beta&who=alice").get_data(as_text=True))) == 1
    assert len(_rows(client.get("/history?who=bob").get_data(as_text=True))) == 1
    assert client.get("/history?project=nope").status_code == 404
    jobs = client.get("/api/jobs?project=projects-beta&who=alice").get_json()["jobs"]
    assert [(j["project_id"], j["action"]) for j in jobs] == [("projects-beta", "mode")]
    # the job page and its back link use the name too
    job = client.get(f"/jobs/{jobs[0]['id']}").get_data(as_text=True)
    assert "← beta-dist</a>" in job and "Mode change of beta-dist" in job


def test_times_in_json_are_iso_8601_with_an_offset(tmp_path, make_app):
    app = _workspace_with_history(tmp_path, make_app)
    client = app.test_client()
    for job in client.get("/api/jobs").get_json()["jobs"]:
        moment = datetime.fromisoformat(job["queued_at_iso"])
        assert moment.utcoffset() is not None
        assert abs(moment.timestamp() - job["queued_at"]) < 1e-3
        assert job["ended_at_iso"] is None  # never ended: null, not a made-up time
    core(app).monitor.refresh()
    for project in client.get("/api/projects").get_json()["projects"]:
        assert datetime.fromisoformat(project["last_change_iso"]).utcoffset() is not None


def test_the_mode_preview_is_never_cached(tmp_path, make_app):
    root = write_workspace(tmp_path / "ws", ["a"])
    write_project(root / "a", "a")
    response = make_app(root).test_client().get("/projects/a/mode?to=persistent_uv")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
