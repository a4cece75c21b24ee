"""Each rule of hosting on a shared box, tried from the side of someone breaking it."""

import ipaddress
import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.conftest import write_project, write_workspace
from webapp.cli import main as cli
from webapp.core.access.users import UserDirectory, add_user


@pytest.fixture
def users(tmp_path):
    path = tmp_path / "users.toml"
    tokens = {
        "alice": add_user(path, "alice", "operator"),
        "victor": add_user(path, "victor", "viewer"),
    }
    return path, tokens


@pytest.fixture
def hosted(tmp_path, make_app, users):
    root = write_workspace(tmp_path / "ws", ["uvp", "act"])
    write_project(root / "uvp", "uvp", mode="persistent_uv")
    write_project(root / "act", "act")
    path, tokens = users

    def factory(**config):
        return make_app(root, ENVBOARD_USERS=UserDirectory(path), **config)

    return factory, tokens, path


def signed_in(app, token: str):
    client = app.test_client()
    page = client.get("/signin").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = client.post("/signin", data={"token": token, "csrf_token": csrf, "next": "/projects/uvp"})
    assert response.status_code == 303, response.get_data(as_text=True)
    assert response.headers["Location"] == "/projects/uvp"
    return client


def page_csrf(client) -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"', client.get("/").get_data(as_text=True)).group(1)


def test_users_file_holds_hashes_never_tokens(users):
    path, tokens = users
    text = path.read_text()
    assert all(token not in text for token in tokens.values())
    assert text.count("token_sha256") == 2
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_anonymous_is_sent_to_sign_in_and_the_api_answers_401(hosted):
    factory, _, _ = hosted
    client = factory().test_client()
    response = client.get("/")
    assert response.status_code == 302 and "/signin" in response.headers["Location"]
    api = client.get("/api/projects")
    assert api.status_code == 401 and api.headers["WWW-Authenticate"] == "Bearer"
    assert client.post("/projects/uvp/sync").status_code in (302, 401, 403)
    assert client.get("/healthz").status_code == 200


def test_anonymous_view_when_allowed_is_read_only(hosted):
    factory, _, _ = hosted
    client = factory(ENVBOARD_ALLOW_ANONYMOUS_VIEW=True).test_client()
    page = client.get("/projects/uvp")
    assert page.status_code == 200
    assert "anonymous is a viewer" in page.get_data(as_text=True)
    response = client.post("/projects/uvp/sync", headers={"X-CSRF-Token": page_csrf(client)})
    assert response.status_code == 403


def test_a_viewer_sees_disabled_buttons_and_cannot_post(hosted):
    factory, tokens, _ = hosted
    client = signed_in(factory(), tokens["victor"])
    page = client.get("/projects/uvp").get_data(as_text=True)
    # disabled but focusable (aria-disabled), with the reason in text it points to
    assert re.search(
        r'<button type="submit" id="sync-button" aria-disabled="true" aria-describedby="sync-blocked"', page
    )
    assert "victor is a viewer; ask an operator" in page
    csrf = page_csrf(client)
    assert client.post("/projects/uvp/sync", headers={"X-CSRF-Token": csrf}).status_code == 403
    assert client.post("/projects/uvp/plugins/refresh", headers={"X-CSRF-Token": csrf}).status_code == 403
    mode = client.post(
        "/projects/act/mode", data={"csrf_token": csrf, "to": "persistent_uv", "file_hash": "x"}
    )
    assert mode.status_code == 403


def test_an_operator_syncs_and_the_history_names_them(hosted):
    factory, tokens, _ = hosted
    app = factory()
    client = signed_in(app, tokens["alice"])
    csrf = page_csrf(client)
    assert client.post("/projects/uvp/sync").status_code == 403  # no CSRF token
    assert client.post("/projects/uvp/sync", headers={"X-CSRF-Token": "wrong"}).status_code == 403
    response = client.post("/projects/uvp/sync", headers={"X-CSRF-Token": csrf})
    assert response.status_code == 303
    job_id = response.headers["Location"].rsplit("/", 1)[1]
    assert client.get(f"/api/jobs/{job_id}").get_json()["who"] == "alice"


def test_bearer_tokens_work_for_scripts_without_csrf(hosted):
    factory, tokens, _ = hosted
    client = factory().test_client()
    headers = {"Authorization": f"Bearer {tokens['alice']}"}
    assert client.get("/api/projects", headers=headers).status_code == 200
    response = client.post("/projects/uvp/sync", headers=headers)
    assert response.status_code == 303
    viewer = {"Authorization": f"Bearer {tokens['victor']}"}
    assert client.post("/projects/uvp/sync", headers=viewer).status_code == 403
    bad = {"Authorization": "Bearer not-a-token"}
    assert client.get("/api/projects", headers=bad).status_code == 401


def test_a_cross_site_post_is_refused_even_with_a_session(hosted):
    factory, tokens, _ = hosted
    client = signed_in(factory(), tokens["alice"])
    csrf = page_csrf(client)
    response = client.post(
        "/projects/uvp/sync", headers={"X-CSRF-Token": csrf, "Sec-Fetch-Site": "cross-site"}
    )
    assert response.status_code == 403


def test_a_form_posted_without_javascript_needs_the_browsers_word_that_it_is_same_origin(hosted):
    """An overview row's form holds no token (rows are shared); without JavaScript to copy it in,
    the browser's Sec-Fetch-Site header, which no page can set, vouches for the form instead."""
    factory, tokens, _ = hosted
    client = signed_in(factory(), tokens["alice"])
    assert client.post("/projects/uvp/sync", data={"csrf_token": ""}).status_code == 403
    for other in ("cross-site", "same-site", "none"):
        refused = client.post(
            "/projects/uvp/sync", data={"csrf_token": ""}, headers={"Sec-Fetch-Site": other}
        )
        assert refused.status_code == 403, other
    wrong = client.post(
        "/projects/uvp/sync", data={"csrf_token": "forged"}, headers={"Sec-Fetch-Site": "same-origin"}
    )
    assert wrong.status_code == 403, "a token that is given must be right"
    posted = client.post(
        "/projects/uvp/sync", data={"csrf_token": ""}, headers={"Sec-Fetch-Site": "same-origin"}
    )
    assert posted.status_code == 303 and "/jobs/" in posted.headers["Location"]


def test_bad_tokens_are_refused_and_brute_force_is_rate_limited(hosted):
    factory, tokens, _ = hosted
    app = factory()
    from webapp.web.services import EXTENSION

    app.extensions[EXTENSION].signin_limiter.clock = lambda: 1000.0  # no delay runs out meanwhile
    client = app.test_client()
    csrf = re.search(
        r'name="csrf_token" value="([^"]+)"', client.get("/signin").get_data(as_text=True)
    ).group(1)
    codes = [
        client.post("/signin", data={"token": f"guess-{i}", "csrf_token": csrf}).status_code for i in range(7)
    ]
    assert codes[:5] == [401] * 5
    assert codes[5:] == [429, 429]
    limited = client.post("/signin", data={"token": tokens["alice"], "csrf_token": csrf})
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0


def test_a_removed_user_loses_access_at_once(hosted):
    import tomlkit

    factory, tokens, path = hosted
    client = signed_in(factory(), tokens["victor"])
    assert client.get("/").status_code == 200
    document = tomlkit.parse(path.read_text())
    document["users"] = [u for u in document["users"] if u["name"] != "victor"]
    path.write_text(tomlkit.dumps(document))
    response = client.get("/")
    assert response.status_code == 302 and "/signin" in response.headers["Location"]


def test_next_cannot_leave_the_site(hosted):
    factory, tokens, _ = hosted
    client = factory().test_client()
    page = client.get("/signin").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    for target in ("//evil.example", "https://evil.example/", "/\\evil.example"):
        response = client.post("/signin", data={"token": tokens["alice"], "csrf_token": csrf, "next": target})
        assert response.headers["Location"] == "/"
        csrf = re.search(
            r'name="csrf-token" content="([^"]+)"', client.get("/").get_data(as_text=True)
        ).group(1)


def test_foreign_host_header_is_refused(hosted):
    factory, tokens, _ = hosted
    app = factory(TRUSTED_HOSTS=["127.0.0.1", "localhost"])
    client = app.test_client()
    headers = {"Authorization": f"Bearer {tokens['alice']}"}
    assert client.get("/api/projects", headers=headers, base_url="http://localhost:8765").status_code == 200
    assert client.get("/api/projects", headers=headers, base_url="http://evil.example").status_code == 400


def test_trusted_proxy_header_only_when_configured(hosted):
    factory, _, _ = hosted
    plain = factory().test_client()
    assert plain.get("/api/projects", headers={"X-Forwarded-User": "alice"}).status_code == 401
    no_proxy_named = factory(ENVBOARD_PROXY_USER_HEADER="X-Forwarded-User").test_client()
    assert no_proxy_named.get("/api/projects", headers={"X-Forwarded-User": "alice"}).status_code == 401
    proxied = factory(
        ENVBOARD_PROXY_USER_HEADER="X-Forwarded-User",
        ENVBOARD_TRUSTED_PROXIES=(ipaddress.ip_network("127.0.0.1/32"),),
    ).test_client()
    assert proxied.get("/api/projects", headers={"X-Forwarded-User": "alice"}).status_code == 200
    assert proxied.get("/api/projects", headers={"X-Forwarded-User": "mallory"}).status_code == 401


def test_single_user_mode_says_so_on_every_page(tmp_path, make_app):
    root = write_workspace(tmp_path / "ws", ["act"])
    write_project(root / "act", "act")
    client = make_app(root).test_client()
    for path in ("/", "/projects/act", "/history"):
        assert "single-user mode" in client.get(path).get_data(as_text=True)


def test_binding_beyond_loopback_without_users_refuses_to_start(tmp_path, capsys):
    code = cli(
        ["serve", "--host", "0.0.0.0", "--workspace", str(tmp_path), "--state-dir", str(tmp_path / "s")]
    )
    assert code == 2
    message = capsys.readouterr().err
    assert "refusing to bind 0.0.0.0 without a users file" in message
    assert "envboard users add" in message


def test_users_add_prints_the_token_once(tmp_path, capsys):
    path = tmp_path / "u.toml"
    assert cli(["users", "add", "carol", "--role", "operator", "--users", str(path)]) == 0
    token = capsys.readouterr().out.strip()
    assert UserDirectory(path).authenticate(token).name == "carol"
    assert token not in path.read_text()


def test_health_endpoints(hosted, tmp_path):
    factory, _, _ = hosted
    client = factory().test_client()
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.get_json()["state_dir_writable"] is True


def test_security_headers(hosted):
    factory, tokens, _ = hosted
    response = factory().test_client().get("/signin")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "same-origin"


def test_dockerfile_runs_envboard_safely():
    text = (Path(__file__).resolve().parent.parent / "Dockerfile").read_text()
    instructions = [line.split()[0] for line in text.splitlines() if line and not line.startswith((" ", "#"))]
    assert instructions[0] == "FROM"
    assert re.search(r"^FROM python:[\d.]+-slim$", text, re.M)
    # it starts as root only to drop to envboard at once, keeping four capabilities (the
    # container test checks PID 1's user and capabilities, and project code's)
    entry = re.search(r'^ENTRYPOINT \["setpriv", "--reuid=envboard".*?"--"\]', text, re.M | re.S)
    assert entry and '"--bounding-set=-all,+setuid,+setgid,+chown,+kill"' in entry.group(0), "runs as root"
    assert "ENVBOARD_JOB_USER=envboard-jobs" in text, "project code as a user of its own"
    assert re.search(r"^EXPOSE 8765", text, re.M)
    assert re.search(r"^HEALTHCHECK .*", text, re.M) and "/healthz" in text
    assert "ENVBOARD_HOST=0.0.0.0" in text and "ENVBOARD_USERS=/etc/envboard/users.toml" in text
    assert "ENVBOARD_WORKSPACE=/workspace" in text and "ENVBOARD_STATE_DIR=/var/lib/envboard" in text
    assert re.search(r"pip install .*\.", text), "envboard (and with it uv) installed from the source"


def test_a_users_file_of_the_wrong_shape_is_refused_with_a_reason(tmp_path):
    from webapp.core.access.users import UsersError

    for text, words in (
        ("users = 3\n", "must be [[users]] tables"),
        ("users = [1, 2]\n", "entry 1 needs name, role and token_sha256"),
        ("[[users]\n", "is not valid TOML"),
    ):
        path = tmp_path / "users.toml"
        path.write_text(text)
        with pytest.raises(UsersError, match=re.escape(words)):
            UserDirectory(path)


def test_a_poll_from_a_page_whose_session_ended_sends_the_page_to_sign_in(hosted):
    """An XHR follows a redirect, and htmx would swap the sign-in page into the polled part of
    the page; htmx is told to take the whole page there instead, and back afterwards."""
    factory, _, _ = hosted
    client = factory().test_client()
    for fragment in (
        "/fragments/versions?all=1&since=3",
        "/projects/uvp/fragments/packages?since=3",
        "/fragments/rows",
    ):
        response = client.get(
            fragment, headers={"HX-Request": "true", "HX-Current-URL": "http://localhost/versions?all=1"}
        )
        assert response.status_code == 401, fragment
        target = urlsplit(response.headers["HX-Redirect"])
        assert target.path == "/signin" and parse_qs(target.query) == {"next": ["/versions?all=1"]}
        assert "token" not in response.get_data(as_text=True)
    plain = client.get("/fragments/versions", headers={"HX-Request": "true"})  # no page named
    assert plain.status_code == 401 and plain.headers["HX-Redirect"] == "/signin"
    assert client.get("/versions").status_code == 302  # a page itself still redirects as before
