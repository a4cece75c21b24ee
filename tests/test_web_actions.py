"""The action routes through Flask's test client: sync, log polling, cancel, history, mode change."""

import re

from tests.conftest import wait_for, write_project, write_workspace


def token(client) -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"', client.get("/").get_data(as_text=True)).group(1)


def workspace(tmp_path, wheelhouse):
    root = write_workspace(tmp_path / "ws", ["uvp", "act"])
    write_project(root / "uvp", "uvp", mode="persistent_uv", dependencies=("dagster",), wheelhouse=wheelhouse)
    write_project(root / "act", "act")
    return root


def test_sync_then_follow_the_log_until_286(tmp_path, wheelhouse, make_app):
    client = make_app(workspace(tmp_path, wheelhouse)).test_client()
    csrf = token(client)
    assert client.post("/projects/uvp/sync").status_code == 403
    response = client.post("/projects/uvp/sync", headers={"X-CSRF-Token": csrf})
    assert response.status_code == 303
    job_id = response.headers["Location"].rsplit("/", 1)[1]
    page = client.get(f"/jobs/{job_id}").get_data(as_text=True)
    assert "Download raw log" in page and f"/jobs/{job_id}/log?offset=0" in page
    offset, text, status = 0, "", 200
    while status != 286:
        chunk = client.get(f"/jobs/{job_id}/log?offset={offset}")
        status = chunk.status_code
        if status == 204:
            continue
        body = chunk.get_data(as_text=True)
        text += body
        found = re.search(r"offset=(\d+)", body)
        offset = int(found.group(1)) if found else offset
    assert "sync --color always" in text and "ansi-" in text  # uv's colours became spans
    job = client.get(f"/api/jobs/{job_id}").get_json()
    assert job["status"] == "succeeded" and job["who"] == "local"
    raw = client.get(f"/jobs/{job_id}/raw")
    assert raw.headers["Content-Disposition"].startswith("attachment")
    assert b"\x1b[" in raw.data  # the raw log keeps the escape codes
    history = client.get("/history").get_data(as_text=True)
    assert job_id in history
    assert [j["id"] for j in client.get("/api/projects/uvp/history").get_json()["jobs"]] == [job_id]


def test_sync_of_an_active_project_is_refused_with_the_reason(tmp_path, wheelhouse, make_app):
    client = make_app(workspace(tmp_path, wheelhouse)).test_client()
    response = client.post("/projects/act/sync", headers={"X-CSRF-Token": token(client), "HX-Request": "1"})
    assert response.status_code == 409
    assert "does not manage the active environment" in response.get_data(as_text=True)
    assert client.post("/projects/nope/sync", headers={"X-CSRF-Token": token(client)}).status_code == 404


def test_mode_change_preview_apply_and_stale_refusal(tmp_path, wheelhouse, make_app):
    root = workspace(tmp_path, wheelhouse)
    app = make_app(root)
    client = app.test_client()
    preview = client.get("/projects/act/mode?to=persistent_uv").get_data(as_text=True).replace("<wbr>", "")
    assert "+python_environment = &#34;persistent_uv&#34;" in preview
    assert str(root / "act" / ".venv") in preview  # what the environment will become
    file_hash = re.search(r'name="file_hash" value="([0-9a-f]+)"', preview).group(1)
    pyproject = root / "act" / "pyproject.toml"
    original = pyproject.read_text()
    pyproject.write_text(original + "# edited by hand\n")
    stale = client.post(
        "/projects/act/mode",
        data={"csrf_token": token(client), "to": "persistent_uv", "file_hash": file_hash},
    )
    assert stale.status_code == 409 and "changed since the preview" in stale.get_data(as_text=True)
    assert pyproject.read_text().endswith("# edited by hand\n")
    preview = client.get("/projects/act/mode?to=persistent_uv").get_data(as_text=True).replace("<wbr>", "")
    file_hash = re.search(r'name="file_hash" value="([0-9a-f]+)"', preview).group(1)
    applied = client.post(
        "/projects/act/mode",
        data={"csrf_token": token(client), "to": "persistent_uv", "file_hash": file_hash},
    )
    assert applied.status_code == 303
    assert 'python_environment = "persistent_uv"' in pyproject.read_text()
    assert client.get("/api/projects/act").get_json()["mode"] == "persistent_uv"
    history = client.get("/api/projects/act/history").get_json()["jobs"]
    assert history[0]["action"] == "mode" and history[0]["detail"]["to"] == "persistent_uv"


def test_cancel_and_status_fragments(tmp_path, make_app, monkeypatch):
    from tests.conftest import write_slow_project

    monkeypatch.setenv("SLOW_BUILD_SECONDS", "60")
    monkeypatch.setenv("UV_NO_CACHE", "1")
    client = make_app(write_slow_project(tmp_path / "slow")).test_client()
    csrf = token(client)
    job_id = (
        client.post("/projects/slow/sync", headers={"X-CSRF-Token": csrf})
        .headers["Location"]
        .rsplit("/", 1)[1]
    )
    again = client.post("/projects/slow/sync", headers={"X-CSRF-Token": csrf, "HX-Request": "1"})
    assert "already" in again.get_data(as_text=True) and job_id in again.get_data(as_text=True)
    assert again.headers["HX-Trigger"] == "job-started"  # the page's sections look again at once
    wait_for(lambda: client.get(f"/api/jobs/{job_id}").get_json()["status"] == "running", timeout=30)
    # a page opened meanwhile follows the job without claiming its viewer joined it, and offers
    # neither Check nor Refresh plugins on the environment the job is changing
    page = client.get("/projects/slow").get_data(as_text=True)
    assert "A sync of slowpkg is under way" in page and "you are watching it" not in page
    assert "Check unavailable: a job is changing its environment" in page
    assert "a job is changing its environment; its plugins are listed again once it has ended" in page
    response = client.post(f"/jobs/{job_id}/cancel", headers={"X-CSRF-Token": csrf, "HX-Request": "1"})
    assert response.status_code == 200
    wait_for(lambda: client.get(f"/api/jobs/{job_id}").get_json()["status"] == "cancelled", timeout=30)
    assert "cancelled" in client.get(f"/jobs/{job_id}/status").get_data(as_text=True)
    assert client.get("/jobs/nope").status_code == 404
