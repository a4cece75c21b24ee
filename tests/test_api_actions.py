"""Every action through the JSON API, as a script on a team server does it: a real `envboard serve`,
bearer tokens, real uv; and the OpenAPI description checked against the app's own routes."""

import json
import re
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import (
    OPERATOR_TOKEN,
    add_dependency,
    build_wheel,
    wait_for,
    write_project,
    write_slow_project,
    write_workspace,
)
from webapp.core.access.users import add_user
from webapp.web.openapi import SPEC


def call(url: str, token: str, method: str = "GET", body: dict | None = None) -> tuple[int, dict, dict]:
    """(status, headers, JSON body) of one request, error statuses included."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read() or b"null")


def ended(url: str, token: str, location: str) -> dict:
    return wait_for(
        lambda: (job := call(url + location, token)[2])["status"] not in ("queued", "running") and job
    )


@pytest.mark.slow
def test_a_script_syncs_switches_cancels_and_refreshes_with_a_bearer_token(tmp_path, live_server):
    root = write_workspace(tmp_path / "ws", ["uvp", "act", "slow"])
    write_project(root / "uvp", "uvp", mode="persistent_uv")
    write_project(root / "act", "act")
    write_slow_project(root / "slow")
    users = tmp_path / "users.toml"
    operator, viewer = add_user(users, "ops", "operator"), add_user(users, "val", "viewer")
    url = live_server(root, "--users", str(users), env={"SLOW_BUILD_SECONDS": "120", "UV_NO_CACHE": "1"})

    # sync: 202, the job, and where to follow it
    status, headers, job = call(f"{url}/api/projects/uvp/sync", operator, "POST")
    assert status == 202 and job["project_id"] == "uvp" and job["joined"] is False
    assert headers["Location"] == f"/api/jobs/{job['id']}"
    assert ended(url, operator, headers["Location"])["status"] == "succeeded"

    # refusals are JSON with a reason
    status, _, error = call(f"{url}/api/projects/act/sync", operator, "POST")
    assert status == 409 and "does not manage the active environment" in error["message"]
    assert call(f"{url}/api/projects/nope/sync", operator, "POST")[0] == 404
    status, _, error = call(f"{url}/api/projects/uvp/sync", viewer, "POST")
    assert status == 403 and "viewer" in error["message"]

    # a mode change needs the preview's hash; a wrong one writes nothing
    before = (root / "act" / "pyproject.toml").read_bytes()
    preview = call(f"{url}/api/projects/act/mode?to=persistent_uv", operator)[2]
    status, _, error = call(f"{url}/api/projects/act/mode", operator, "POST", {"to": "persistent_uv"})
    assert status == 400 and "file_hash is required" in error["message"]
    status, _, error = call(
        f"{url}/api/projects/act/mode", operator, "POST", {"to": "persistent_uv", "file_hash": "0" * 64}
    )
    assert status == 409 and (root / "act" / "pyproject.toml").read_bytes() == before
    status, headers, written = call(
        f"{url}/api/projects/act/mode",
        operator,
        "POST",
        {"to": "persistent_uv", "file_hash": preview["file_hash"], "sync": True},
    )
    assert status == 202 and written["job"]["status"] == "succeeded"
    assert headers["Location"] == f"/api/jobs/{written['sync']['id']}"
    assert ended(url, operator, headers["Location"])["status"] == "succeeded"
    assert 'python_environment = "persistent_uv"' in (root / "act" / "pyproject.toml").read_text()

    # cancel: 202 while it runs, cancelled once its process group has gone, 409 after
    status, headers, job = call(f"{url}/api/projects/slow/sync", operator, "POST")
    assert status == 202
    wait_for(lambda: "Building" in Path(job["log_path"]).read_text(), timeout=60)
    status, cancel_headers, cancelling = call(f"{url}/api/jobs/{job['id']}/cancel", operator, "POST")
    assert status == 202 and cancel_headers["Location"] == headers["Location"]
    assert ended(url, operator, headers["Location"])["status"] == "cancelled"
    status, _, error = call(f"{url}/api/jobs/{job['id']}/cancel", operator, "POST")
    assert status == 409 and "already ended: cancelled" in error["message"]

    # plugin refresh: 202 and the project, to poll until pending is over
    status, headers, project = call(f"{url}/api/projects/uvp/plugins/refresh", operator, "POST")
    assert status == 202 and project["id"] == "uvp" and headers["Location"] == "/api/projects/uvp"

    # sync all: one project drifts; the cancelled project's half-made environment needs a sync too
    wheel = build_wheel(tmp_path / "wheels", "tinydep", "1.0", {"tinydep.py": ""})
    add_dependency(root / "uvp", "tinydep", wheel)

    def status_of(project_id: str) -> str:
        return call(f"{url}/api/projects/{project_id}", operator)[2]["environment"]["status"]

    wait_for(lambda: status_of("uvp") == "out_of_sync")
    wait_for(lambda: status_of("slow") in ("out_of_sync", "missing"), timeout=120)
    status, headers, done = call(f"{url}/api/sync-out-of-sync", operator, "POST")
    # the cancelled project's half-made environment is out of sync too
    started = {job["project_id"]: job["id"] for job in done["started"]}
    assert status == 202 and set(started) == {"uvp", "slow"} and headers["Location"] == "/api/jobs"
    assert call(f"{url}/api/jobs/{started['slow']}/cancel", operator, "POST")[0] == 202
    assert ended(url, operator, f"/api/jobs/{started['uvp']}")["status"] == "succeeded"


def test_sync_all_with_nothing_to_sync_is_a_200_that_starts_nothing(tmp_path, make_app):
    root = write_workspace(tmp_path / "ws", ["act"])
    write_project(root / "act", "act")  # active: envboard syncs nothing there
    client = make_app(root).test_client()
    token = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/").get_data(as_text=True)).group(1)
    response = client.post("/api/sync-out-of-sync", headers={"X-CSRF-Token": token})
    assert response.status_code == 200 and response.get_json()["started"] == []


def test_a_browser_session_posting_json_still_needs_the_csrf_token(tmp_path, make_app):
    root = write_workspace(tmp_path / "ws", ["uvp"])
    write_project(root / "uvp", "uvp", mode="persistent_uv")
    client = make_app(root).test_client()
    response = client.post("/api/projects/uvp/sync")
    assert response.status_code == 403 and "CSRF" in response.get_json()["message"]
    response = client.post("/api/projects/uvp/mode", data="[1, 2]", content_type="application/json")
    assert response.status_code == 403  # refused before the body is even read


def flask_path(rule: str) -> str:
    return re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule)


def test_the_openapi_description_matches_the_apps_routes(tmp_path, make_app):
    """A JSON route without a description here, or a described one the app lacks, fails."""
    root = write_workspace(tmp_path / "ws", ["a"])
    write_project(root / "a", "a")
    app = make_app(root)
    routes = {
        (flask_path(rule.rule), method.lower())
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/") and rule.rule != "/api/openapi.json"
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    published = app.test_client().get("/api/openapi.json").get_json()
    described = {(path, method) for path, item in published["paths"].items() for method in item}
    assert routes == described
    for path, method in described:
        operation = published["paths"][path][method]
        assert operation["summary"], (path, method)
        if method == "post":
            assert operation["description"] and {"200", "202"} & set(operation["responses"])
    actions = {path for path, method in described if method == "post"}
    assert actions == {
        "/api/projects/{project_id}/sync",
        "/api/sync-out-of-sync",
        "/api/projects/{project_id}/mode",
        "/api/jobs/{job_id}/cancel",
        "/api/projects/{project_id}/plugins/refresh",
    }
    assert published == json.loads(json.dumps(SPEC))


def test_a_project_named_where_its_id_belongs_gets_its_id_suggested(tmp_path, make_app):
    # the command line takes names (`envboard sync pipelines`); URLs and the API take ids
    root = write_workspace(tmp_path / "ws", ["teams/alpha"])
    write_project(root / "teams/alpha", "alpha")
    client = make_app(root).test_client()
    wait_for(lambda: client.get("/api/projects/teams-alpha").status_code == 200)

    for method, path in (("GET", "/api/projects/alpha"), ("POST", "/api/projects/alpha/sync")):
        answer = client.open(path, method=method, headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"})
        assert answer.status_code == 404, (path, answer.status_code)
        assert "its id is 'teams-alpha'" in answer.get_json()["message"], answer.get_json()
    unknown = client.get("/api/projects/nothing-like-it").get_json()["message"]
    assert "no project with id 'nothing-like-it'" in unknown and "its id is" not in unknown
