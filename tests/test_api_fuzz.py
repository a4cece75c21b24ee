"""The JSON API fuzzed from its own OpenAPI description: no 500s, answers in the declared shapes."""

import re
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import write_project, write_workspace
from webapp.web.openapi import SPEC

WEIRD = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        ["..", "../..", "%2e%2e", "a/b", "$(id)", "`id`", "x;rm -rf /", "\x00", "projects-alpha"]
    ),
)


def fill(path: str, value: str) -> str:
    return re.sub(r"\{[^}]+\}", quote(value, safe=""), path)


def check_shape(schema: dict, data) -> None:
    if "$ref" in schema:
        schema = SPEC["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    if data is None:
        assert schema.get("nullable"), schema
        return
    kind = schema.get("type")
    if kind == "object":
        assert isinstance(data, dict)
        for name in schema.get("required", []):
            assert name in data, name
        for name, sub in schema.get("properties", {}).items():
            if name in data:
                check_shape(sub, data[name])
    elif kind == "array":
        assert isinstance(data, list)
        for item in data:
            check_shape(schema["items"], item)
    elif kind == "string":
        assert isinstance(data, str)
        if "enum" in schema:
            assert data in schema["enum"]


def test_the_spec_is_published(tmp_path, make_app):
    root = write_workspace(tmp_path / "ws", ["a"])
    write_project(root / "a", "a")
    app = make_app(root)
    spec = app.test_client().get("/api/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    # the spec against the routes the app really serves: each /api/ route and method is described, as
    # `{name}` where Flask says `<name>` (the spec's own address is not part of the API it describes)
    routes: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():  # one address may have a rule per method (GET and POST)
        if rule.rule.startswith("/api/"):
            routes.setdefault(re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule), set()).update(
                rule.methods
            )
    served = set(routes) - {"/api/openapi.json"}
    assert served == set(spec["paths"])
    for path, operations in spec["paths"].items():  # every method of every route, no more
        assert {method.upper() for method in operations} == routes[path] - {"HEAD", "OPTIONS"}, path


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    path=st.sampled_from(sorted(path for path, item in SPEC["paths"].items() if "get" in item)),
    value=WEIRD,
    query=st.dictionaries(st.text(max_size=8), st.text(max_size=12), max_size=3),
)
def test_no_500_and_declared_shapes(fuzz_client, path, value, query):
    client, job_id = fuzz_client
    url = fill(path, job_id if "job_id" in path and value == "projects-alpha" else value)
    response = client.get(url, query_string=query)
    declared = SPEC["paths"][path]["get"]["responses"]
    assert response.status_code < 500
    if response.status_code in (308, 301):  # a path with odd slashes normalised by the router
        return
    assert str(response.status_code) in declared, (url, response.status_code)
    body = response.get_json()
    schema = declared[str(response.status_code)]["content"]["application/json"]["schema"]
    check_shape(schema, body)


import pytest  # noqa: E402


@pytest.fixture(scope="module")
def fuzz_client(tmp_path_factory):
    from tests.conftest import core
    from webapp.core.settings import Settings
    from webapp.web import create_app

    base = tmp_path_factory.mktemp("fuzz")
    root = write_workspace(base / "ws", ["projects/alpha", "broken"])
    write_project(root / "projects" / "alpha", "alpha", mode="persistent_uv")
    (root / "broken").mkdir()
    (root / "broken" / "pyproject.toml").write_text("[tool.dg\n")
    app = create_app(
        {"ENVBOARD_SETTINGS": Settings(workspace=root, state_dir=base / "state"), "TESTING": True}
    )
    envboard = core(app)
    project = envboard.board.workspace.projects[0]
    record = envboard.history.new_job(project.id, str(project.path), "mode", "fuzzer", status="succeeded")
    yield app.test_client(), record.id
    envboard.close()


# -- the HTML routes: every GET rule of the app, and sign-in, with hostile parameters ---------------

PARAMETER_NAMES = [
    "offset",
    "since",
    "to",
    "next",
    "q",
    "mode",
    "status",
    "force",
    "file_hash",
    "token",
    "all",
]
HOSTILE_VALUES = st.one_of(
    st.text(max_size=30),
    st.integers(min_value=-(2**80), max_value=2**80).map(str),
    st.sampled_from(
        [
            "/\t/evil.example/x",
            "/\r\nSet-Cookie: a=b",
            "//evil.example",
            "\x00",
            "%00",
            "9" * 400,
            str(2**63),
            str(2**64),
            "1" + "0" * 30,
            "-1",
            "1e309",
            "persistent_uv",
            "active",
            "x-__envboard_csrf__-y",
            "{{7*7}}",
        ]
    ),
)


def html_get_rules(app) -> list[str]:
    return sorted(
        rule.rule
        for rule in app.url_map.iter_rules()
        if "GET" in rule.methods and not rule.rule.startswith("/api/") and rule.endpoint != "static"
    )


@pytest.fixture
def synced_client(tmp_path, make_app):
    """A project synced by a real uv, so that its job has a log to read from any offset."""
    from tests.test_attacks import synced_job

    root, job_id, _ = synced_job(tmp_path, extra_log_bytes=300 * 1024)
    (root / "broken").mkdir()
    (root / "broken" / "pyproject.toml").write_text("[tool.dg\n")
    return make_app(root).test_client(), job_id


@pytest.fixture
def html_rules(synced_client):
    client, _ = synced_client
    return html_get_rules(client.application)


@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    value=WEIRD,
    real_id=st.booleans(),
    fragment=st.booleans(),
    query=st.dictionaries(st.sampled_from(PARAMETER_NAMES) | st.text(max_size=6), HOSTILE_VALUES, max_size=4),
)
def test_no_html_route_answers_500(synced_client, html_rules, value, real_id, fragment, query):
    """Each example tries every GET route with the same hostile parameters."""
    client, job_id = synced_client
    for rule in html_rules:
        if real_id:  # a real job and project, so that the parameters reach the code behind the lookup
            value = job_id if "job_id" in rule else "tiny"
        url = re.sub(r"<(?:[^:>]+:)?[^>]+>", quote(value, safe=""), rule)
        response = client.get(url, query_string=query, headers={"HX-Request": "true"} if fragment else {})
        assert response.status_code < 500, (url, query, response.status_code)


def test_the_html_fuzzer_covers_the_routes_that_take_parameters(html_rules):
    for expected in ("/jobs/<job_id>/log", "/projects/<project_id>/mode", "/fragments/rows", "/signin"):
        assert expected in html_rules


@pytest.fixture(scope="module")
def signin_client(tmp_path_factory):
    from tests.conftest import core
    from webapp.core.access.users import UserDirectory, add_user
    from webapp.core.settings import Settings
    from webapp.web import create_app

    base = tmp_path_factory.mktemp("fuzz-signin")
    root = write_workspace(base / "ws", ["a"])
    write_project(root / "a", "a")
    add_user(base / "users.toml", "ann", "operator")
    app = create_app(
        {
            "ENVBOARD_SETTINGS": Settings(workspace=root, state_dir=base / "state"),
            "ENVBOARD_USERS": UserDirectory(base / "users.toml"),
            "TESTING": True,
        }
    )
    yield app.test_client()
    core(app).close()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(token=HOSTILE_VALUES, next_target=HOSTILE_VALUES, ip=st.ip_addresses().map(str))
def test_sign_in_never_500s_and_never_redirects_off_site(signin_client, token, next_target, ip):
    page = signin_client.get("/signin", query_string={"next": next_target}).get_data(as_text=True)
    assert signin_client.get("/signin", query_string={"next": next_target}).status_code < 500
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = signin_client.post(
        "/signin",
        data={"token": token, "csrf_token": csrf, "next": next_target},
        environ_base={"REMOTE_ADDR": ip},
    )
    assert response.status_code in (401, 429), response.status_code
    if any(c in token for c in "\r\n"):
        return  # no HTTP client can put that in a header
    bearer = signin_client.get(
        "/api/projects", headers={"Authorization": f"Bearer {token}"}, environ_base={"REMOTE_ADDR": ip}
    )
    assert bearer.status_code in (401, 429)
