"""Single-user mode on a shared box: anyone who reaches the loopback port may look, but only the
holder of the token `envboard serve` printed at start may act (issue 21, item 7)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.conftest import OPERATOR_TOKEN, free_port, signed_in, write_project, write_workspace
from tests.test_faults import Browserless
from webapp.cli import main as cli

RANDOM_TOKEN = {"ENVBOARD_TOKEN": ""}  # as `envboard serve` runs without --token: a new one each start


def _workspace(tmp_path: Path) -> Path:
    root = write_workspace(tmp_path / "ws", ["p"])
    write_project(root / "p", "p", mode="persistent_uv")
    return root


def _printed_link(tmp_path: Path, url: str) -> str:
    """The link `envboard serve` printed at start, read from its output as a person would."""
    output = (tmp_path / f"server-{url.rsplit(':', 1)[1]}.log").read_text()
    return re.search(r"serving on (http://\S+\?token=\S+) \(single-user mode", output).group(1)


def _jobs(url: str) -> list:
    with urllib.request.urlopen(url + "/api/jobs") as answer:  # reading is open to anyone
        return json.loads(answer.read())["jobs"]


# -- a real served envboard -------------------------------------------------------------------------


@pytest.mark.slow
def test_a_client_with_the_pages_csrf_token_cannot_act_but_the_printed_link_can(tmp_path, live_server):
    url = live_server(_workspace(tmp_path), env=RANDOM_TOKEN)
    link = _printed_link(tmp_path, url)
    token = urlsplit(link).query.removeprefix("token=")
    assert token != OPERATOR_TOKEN and len(token) >= 32

    stranger = Browserless(url, token=None)  # another local user: reads the page and its CSRF token
    assert stranger.post("/projects/p/sync")[0] == 403
    request = urllib.request.Request(
        url + "/api/projects/p/sync", method="POST", headers={"X-CSRF-Token": stranger.csrf}
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        stranger.opener.open(request)
    assert refused.value.code == 403
    assert "open the link envboard printed at start" in json.loads(refused.value.read())["message"]
    wrong = urllib.request.Request(
        url + "/api/projects/p/sync", method="POST", headers={"Authorization": "Bearer " + "x" * 43}
    )
    with pytest.raises(urllib.error.HTTPError) as unauthorized:
        urllib.request.urlopen(wrong)
    assert unauthorized.value.code == 401
    assert _jobs(url) == []  # nothing was started or recorded

    operator = Browserless(url, token=token)  # opened the printed link
    status, headers = operator.post("/projects/p/sync")
    assert status == 303 and "/jobs/" in headers["Location"]
    assert [job["who"] for job in _jobs(url)] == ["local"]

    # a script sends the same token as a bearer token, without a session or CSRF token
    bearer = urllib.request.Request(
        url + "/api/sync-out-of-sync", method="POST", headers={"Authorization": f"Bearer {token}"}
    )
    assert urllib.request.urlopen(bearer).status == 202

    # the token is in the state dir for the same user alone, and never in the access log
    token_file = tmp_path / "state" / "token"
    assert token_file.read_text().strip() == token
    assert token_file.stat().st_mode & 0o777 == 0o600
    output = (tmp_path / f"server-{url.rsplit(':', 1)[1]}.log").read_text()
    assert output.count(token) == 1, "the token was logged beyond the line that prints the link"


@pytest.mark.slow
def test_another_unix_user_cannot_read_the_token_nor_act(tmp_path, live_server):
    if os.geteuid() != 0:
        pytest.skip("a second Unix user needs root to switch to")
    url = live_server(_workspace(tmp_path), env=RANDOM_TOKEN)
    # the other user's own stdlib client: reads the page, copies its CSRF token, posts like the page
    other = (
        "import json, re, sys, urllib.error, urllib.request\n"
        "from http.cookiejar import CookieJar\n"
        "url, state = sys.argv[1], sys.argv[2]\n"
        "found = {}\n"
        "try:\n"
        "    found['token_file'] = open(state + '/token').read()\n"
        "except OSError as exc:\n"
        "    found['token_file'] = type(exc).__name__\n"
        "class Stay(urllib.request.HTTPRedirectHandler):\n"
        "    def redirect_request(self, *args, **kwargs):\n"
        "        return None\n"
        "opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()), Stay())\n"
        "page = opener.open(url + '/').read().decode()\n"
        'csrf = re.search(r\'name="csrf-token" content="([^"]+)"\', page).group(1)\n'
        "for path in ('/projects/p/sync', '/sync-out-of-sync'):\n"
        "    headers = {'X-CSRF-Token': csrf, 'Sec-Fetch-Site': 'same-origin'}\n"
        "    try:\n"
        "        found[path] = opener.open(urllib.request.Request(url + path, method='POST', headers=headers)).status\n"
        "    except urllib.error.HTTPError as exc:\n"
        "        found[path] = exc.code\n"
        "print(json.dumps(found))\n"
    )
    run = subprocess.run(
        ["/usr/bin/python3", "-c", other, url, str(tmp_path / "state")],
        user="nobody",
        group="nogroup",
        extra_groups=[],
        cwd="/",
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    found = json.loads(run.stdout)
    assert found == {"token_file": "PermissionError", "/projects/p/sync": 403, "/sync-out-of-sync": 403}
    assert _jobs(url) == []


@pytest.mark.browser
def test_the_printed_link_lets_a_browser_act_and_leaves_the_address_bar(tmp_path, live_server, browser):
    from playwright.sync_api import expect

    url = live_server(_workspace(tmp_path), env=RANDOM_TOKEN)
    stranger = browser.new_context()
    look = stranger.new_page()
    look.goto(url + "/projects/p")
    expect(look.locator("#viewer-note")).to_contain_text("open the link envboard printed at start to act")
    expect(look.locator("#sync-button")).to_have_attribute("aria-disabled", "true")
    expect(look.locator("#current-user")).to_contain_text("viewer")
    stranger.close()

    operator = browser.new_context()
    page = operator.new_page()
    page.goto(_printed_link(tmp_path, url))
    assert page.url == url + "/"  # the token is gone from the address bar (and the history)
    expect(page.locator("#current-user")).to_contain_text("operator")
    page.goto(url + "/projects/p")
    expect(page.locator("#viewer-note")).to_have_count(0)
    page.locator("#sync-button").click()
    expect(page.locator("#flashes .flash")).to_contain_text("Sync of p")  # started, then succeeded
    operator.close()


@pytest.mark.slow
def test_a_restart_makes_a_new_token_and_ends_the_old_links_sessions(tmp_path, live_server):
    root = _workspace(tmp_path)
    first = live_server(root, env=RANDOM_TOKEN)
    operator = Browserless(first, token=urlsplit(_printed_link(tmp_path, first)).query[len("token=") :])
    live_server.processes[first].terminate()
    live_server.processes[first].wait(timeout=30)
    second = live_server(root, env=RANDOM_TOKEN)  # the same state dir, so the same signing key
    assert _printed_link(tmp_path, second) != _printed_link(tmp_path, first).replace(first, second)
    operator.url = second  # cookies for 127.0.0.1 go to any port: the old session is sent along
    assert operator.post("/projects/p/sync")[0] == 403


# -- the rules, through Flask's test client ----------------------------------------------------------


def test_without_the_token_one_looks_and_is_told_how_to_act(tmp_path, make_app):
    app = make_app(_workspace(tmp_path))
    stranger = app.test_client(operator=False)
    page = stranger.get("/projects/p").get_data(as_text=True)
    assert "open the link envboard printed at start to act" in page
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    refused = stranger.post("/projects/p/sync", headers={"X-CSRF-Token": csrf})
    assert refused.status_code == 403
    assert "open the link envboard printed at start" in refused.get_data(as_text=True)
    # the overview row's token-less form, with a header any script can send
    assert stranger.post("/projects/p/sync", headers={"Sec-Fetch-Site": "same-origin"}).status_code == 403
    assert stranger.post("/api/projects/p/mode", json={"to": "active"}).status_code == 403
    assert stranger.get("/api/projects").status_code == 200  # reading stays open


def test_the_link_signs_in_and_redirects_without_the_token_keeping_the_rest(tmp_path, make_app, caplog):
    app = make_app(_workspace(tmp_path))
    client = app.test_client(operator=False)
    answer = client.get(signed_in("/versions?q=dag&all=1"))
    assert answer.status_code == 303
    assert answer.headers["Location"] == "/versions?q=dag&all=1"
    assert "operator" in client.get("/").get_data(as_text=True)
    assert OPERATOR_TOKEN not in caplog.text  # the access log records the path alone


@pytest.mark.parametrize(
    "path", ["/%09/evil.example", "//evil.example", "/%5Cevil.example", "/\\/evil.example"]
)
def test_the_link_never_redirects_to_another_host(tmp_path, make_app, path):
    # a link that starts on this envboard must not land on a look-alike page elsewhere
    client = make_app(_workspace(tmp_path)).test_client(operator=False)
    for token in (OPERATOR_TOKEN, "a-wrong-token-from-a-phishing-mail"):
        location = client.get(signed_in(path, token)).headers["Location"]
        assert urlsplit(location).netloc == "" and not location.startswith(("//", "/\\")), location


def test_the_link_keeps_the_prefix_envboard_is_served_under_and_refuses_no_header(tmp_path, make_app):
    client = make_app(_workspace(tmp_path)).test_client(operator=False)
    answer = client.get(signed_in("/versions?q=x"), environ_overrides={"SCRIPT_NAME": "/board"})
    assert answer.headers["Location"] == "/board/versions?q=x"
    answer = client.get(signed_in("/a%0d%0aSet-Cookie:x=1"))  # CR LF in the path: no header split
    assert answer.status_code == 303 and "\n" not in answer.headers["Location"]


def test_a_wrong_link_says_so_and_grants_nothing(tmp_path, make_app):
    app = make_app(_workspace(tmp_path))
    client = app.test_client(operator=False)
    answer = client.get(signed_in("/", "an-old-token-from-yesterday"))
    assert answer.status_code == 303 and answer.headers["Location"] == "/"
    page = client.get("/").get_data(as_text=True)
    assert "is not this envboard&#39;s" in page and "open the link it printed last" in page
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    assert client.post("/projects/p/sync", headers={"X-CSRF-Token": csrf}).status_code == 403


def test_a_bearer_token_acts_without_a_session(tmp_path, make_app):
    app = make_app(_workspace(tmp_path))
    client = app.test_client(operator=False)
    answer = client.post(
        "/api/projects/p/plugins/refresh", headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"}
    )
    assert answer.status_code == 202, answer.get_data(as_text=True)


def test_serve_refuses_a_short_token_and_a_token_with_users(tmp_path, capsys):
    root = _workspace(tmp_path)
    common = [
        "serve",
        "--workspace",
        str(root),
        "--state-dir",
        str(tmp_path / "state"),
        "--port",
        str(free_port()),
    ]
    assert cli([*common, "--token", "short"]) == 2
    assert "at least 16 characters" in capsys.readouterr().err
    users = tmp_path / "users.toml"
    from webapp.core.access.users import add_user

    add_user(users, "alice", "operator")
    assert cli([*common, "--users", str(users), "--token", "x" * 20]) == 2
    assert "--token is for single-user mode" in capsys.readouterr().err


def test_the_json_api_answers_as_declared_with_a_token_in_the_query(tmp_path, make_app):
    # the printed link opens pages: under /api/ the token parameter signs no one in and redirects
    # nowhere (the API declares no redirect; a script sends the token as a bearer)
    client = make_app(_workspace(tmp_path)).test_client(operator=False)
    for token in (OPERATOR_TOKEN, "", "a-wrong-token"):
        answer = client.get(f"/api/projects?token={token}")
        assert answer.status_code == 200 and answer.get_json()["projects"], token
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/").get_data(as_text=True)).group(1)
    assert (
        client.post("/projects/p/sync", headers={"X-CSRF-Token": csrf}).status_code == 403
    )  # nobody signed in
