"""The front (web/front.py): the overview and its poll's 204 answered before Flask, with
Flask's own bytes and headers, for the viewer the same identity step names; and a poll's
connection kept open after its 204."""

from __future__ import annotations

import http.client
import re
import time
from urllib.parse import urlsplit

import pytest
from werkzeug.test import Client

from tests.conftest import core, idle, write_project, write_workspace
from webapp.core.access.users import UserDirectory, add_user, remove_user
from webapp.core.pages.overview import overview_version

ENCODINGS = ({}, {"Accept-Encoding": "gzip, deflate, br"}, {"Accept-Encoding": "gzip;q=0, identity"})


def _workspace(tmp_path, names=("alpha", "beta")):
    root = write_workspace(tmp_path / "ws", list(names))
    for name in names:
        write_project(root / name, name)
    return root


def _signed_in(app, token: str):
    client = app.test_client()
    form = client.get("/signin").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    assert client.post("/signin", data={"token": token, "csrf_token": csrf}).status_code == 303
    return client


def _answer(response) -> tuple:
    return response.status, list(response.headers.items()), response.get_data()


def _requests_counted(app, endpoint: str) -> float:
    metrics = app.extensions["envboard"].metrics
    return (
        metrics.registry.get_sample_value(
            "envboard_request_duration_seconds_count", {"endpoint": endpoint, "method": "GET"}
        )
        or 0.0
    )


def test_the_front_answers_with_flasks_own_bytes_and_headers(tmp_path, make_app):
    users = tmp_path / "users.toml"
    token = add_user(users, "alice", "operator")
    app = make_app(
        _workspace(tmp_path), ENVBOARD_USERS=UserDirectory(users), ENVBOARD_ALLOW_ANONYMOUS_VIEW=True
    )
    front = app.wsgi_app
    flask_alone = Client(front.behind, response_wrapper=app.response_class)  # the same app, no front
    idle(app)  # every probe and check has answered: every answer below shows one snapshot
    viewers = {"anonymous": app.test_client(), "alice": _signed_in(app, token)}
    for name, client in viewers.items():
        assert client.get("/").status_code == 200  # the session gets its CSRF token (Flask sets it)
        flask_alone.set_cookie("envboard_session", client.get_cookie("envboard_session").value)
        since = overview_version(core(app))
        asks = [("/", encoding) for encoding in ENCODINGS]
        asks.append((f"/fragments/rows?since={since}", {"HX-Request": "true"}))
        for path, headers in asks:
            endpoint = "overview.rows" if "rows" in path else "overview.index"
            client.get(path, headers=headers)  # the first of each is Flask's, and kept
            served, counted = front.served, _requests_counted(app, endpoint)
            ours = _answer(client.get(path, headers=headers))
            assert front.served == served + 1, (name, path, headers)  # this one the front answered
            assert _requests_counted(app, endpoint) == counted + 1  # and counted as any request is
            assert ours == _answer(flask_alone.get(path, headers=headers)), (name, path, headers)
        assert ours[0] == "204 NO CONTENT"
        page = viewers[name].get("/").get_data(as_text=True)
        assert re.search(r'<span class="user" id="current-user">(\w+)', page).group(1) == name


def test_the_front_sees_a_removed_user_and_a_sign_out_at_once(tmp_path, make_app):
    users = tmp_path / "users.toml"
    tokens = {name: add_user(users, name, "operator") for name in ("alice", "bob")}
    app = make_app(_workspace(tmp_path), ENVBOARD_USERS=UserDirectory(users))
    idle(app)
    alice, bob = _signed_in(app, tokens["alice"]), _signed_in(app, tokens["bob"])
    since = overview_version(core(app))
    poll = (f"/fragments/rows?since={since}", {"HX-Request": "true"})
    for client in (alice, bob):
        client.get("/")  # the session's CSRF token is made (Flask sets the cookie)
        client.get("/")  # Flask's answer, kept
        client.get(poll[0], headers=poll[1])
    served = app.wsgi_app.served
    assert alice.get("/").status_code == bob.get("/").status_code == 200
    assert alice.get(poll[0], headers=poll[1]).status_code == 204
    assert app.wsgi_app.served == served + 3  # kept answers, from the front

    remove_user(users, "bob")  # from the command line, while his page is open
    page = bob.get("/")
    assert page.status_code == 302 and "/signin" in page.headers["Location"]
    app.extensions["envboard"].sessions.end_user("alice")  # signed out everywhere
    assert alice.get(poll[0], headers=poll[1]).status_code == 401
    page = alice.get("/")
    assert page.status_code == 302 and "/signin" in page.headers["Location"]
    assert app.wsgi_app.served == served + 3  # Flask answered these: nobody to answer for


def test_a_poll_that_finds_nothing_changed_keeps_its_connection(tmp_path, live_server):
    url = live_server(_workspace(tmp_path))
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    connection.request("GET", "/")
    page = connection.getresponse()
    body = page.read().decode()
    cookie = page.headers["Set-Cookie"].split(";")[0]
    since = re.search(r"/fragments/rows\?since=([0-9.]+)", body).group(1)
    answers = []
    for _ in range(3):
        connection.request(
            "GET", f"/fragments/rows?since={since}", headers={"Cookie": cookie, "HX-Request": "true"}
        )
        answer = connection.getresponse()
        answer.read()
        answers.append((answer.status, answer.headers.get("Connection"), answer.will_close))
        if answer.status != 204:  # a probe ended meanwhile: the rows travel, then it is quiet again
            since = overview_version_of(url, cookie)
    assert (204, None, False) in answers
    assert all(not will_close for _, _, will_close in answers)


def overview_version_of(url: str, cookie: str) -> str:
    import urllib.request

    request = urllib.request.Request(url + "/", headers={"Cookie": cookie})
    with urllib.request.urlopen(request, timeout=30) as page:
        return re.search(r"/fragments/rows\?since=([0-9.]+)", page.read().decode()).group(1)


def test_a_workspace_error_alone_is_shown_at_the_next_look(tmp_path, make_app):
    root = tmp_path / "ws"
    root.mkdir()
    config = root / "dg.toml"
    config.write_text('directory_type = "workspace"\n\n[workspace]\nprojects = []\n')
    app = make_app(root)
    idle(app)
    client = app.test_client()
    assert "must be a list" not in client.get("/").get_data(as_text=True)
    assert "must be a list" not in client.get("/").get_data(as_text=True)  # kept, and answered kept
    served, version = app.wsgi_app.served, overview_version(core(app))
    # the config breaks and the project list stays the same (none): only the workspace's error is new
    config.write_text('directory_type = "workspace"\n\n[workspace]\nprojects = "alpha"\n')
    idle(app)  # the monitor has read the workspace again
    assert core(app).board.workspace.error and overview_version(core(app)) == version
    page = client.get("/")
    assert page.status_code == 200 and "workspace.projects must be a list" in page.get_data(as_text=True)
    assert app.wsgi_app.served >= served  # asked through the front


def test_viewers_asking_at_once_for_a_new_page_wait_for_one_render(tmp_path, make_app):
    """A new snapshot, and every open overview asks for it within the same moment: Flask renders
    it once, and the others are given that answer, not one render each fighting for the GIL."""
    import contextlib
    import threading

    from tests.conftest import wait_for

    app = make_app(_workspace(tmp_path))
    idle(app)
    front = app.wsgi_app
    first = Client(front, response_wrapper=app.response_class).get("/")  # a viewer's first page
    cookie = first.headers["Set-Cookie"].split(";")[0]  # its session, with its CSRF token
    viewers = 6
    renders = []

    def flask(environ, start_response):  # Flask itself, its renders counted and the first held
        renders.append(environ["PATH_INFO"])
        with contextlib.suppress(AssertionError):  # until the others wait for this answer (or 10 s)
            wait_for(lambda: front.waiting == viewers - 1, timeout=10, interval=0.01)
        return behind(environ, start_response)

    behind, front.behind = front.behind, flask
    answers = []

    def view() -> None:
        asked = Client(front, response_wrapper=app.response_class, use_cookies=False)  # the header alone
        answer = asked.get("/?q=alp", headers={"Cookie": cookie})
        answers.append((answer.status_code, answer.get_data()))

    threads = [threading.Thread(target=view) for _ in range(viewers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    front.behind = behind
    assert len(answers) == viewers and {status for status, _ in answers} == {200}
    assert len({body for _, body in answers}) == 1 and b'id="project-alpha"' in answers[0][1]
    assert renders == ["/"]  # one render for the six


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_the_front_writes_the_access_log_line_flask_writes(tmp_path, make_app, log_format):
    """A request's line is queued as its fields alone and made into a record by the writer thread:
    the lines are those logging writes for `access.info`, for the front's answers as for Flask's."""
    import io
    import json
    import logging

    from webapp.web.access_log import access, configure, drain

    app = make_app(_workspace(tmp_path), ENVBOARD_ALLOW_ANONYMOUS_VIEW=True)
    idle(app)
    client = app.test_client(operator=False)
    client.get("/")  # the session's CSRF token (Flask sets the cookie)
    stream = io.StringIO()
    configure(log_format, stream)
    served = app.wsgi_app.served
    client.get("/")  # Flask's answer, kept
    client.get("/")  # the front's
    access.addFilter(lambda record: True)  # logging's own path: a record made in the request
    try:
        client.get("/")
    finally:
        access.filters.clear()
    drain()
    assert app.wsgi_app.served == served + 2
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3, lines
    if log_format == "json":
        parsed = [json.loads(line) for line in lines]
        for fields in parsed:
            assert abs(fields.pop("time") - time.time()) < 600 and fields.pop("ms") >= 0
        assert parsed[0] == parsed[1] == parsed[2]
        assert parsed[0] == {
            "level": "info",
            "logger": "envboard.access",
            "method": "GET",
            "path": "/",
            "status": 200,
            "user": "anonymous",
            "remote": "127.0.0.1",
        }
    else:
        shape = re.compile(
            r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} envboard\.access method=GET path=/ status=200 "
            r"ms=\d+\.\d user=anonymous remote=127\.0\.0\.1"
        )
        assert all(shape.fullmatch(line) for line in lines), lines
    assert logging.getLogger("envboard").handlers  # as configured; the fixture puts it back


def test_headers_sent_by_anyone_do_not_grow_the_fronts_memory(tmp_path, make_app):
    """The raw query, cookie and Accept-Encoding are remembered before anyone is identified: a
    stranger sending big, ever-different ones (waitress takes 256 KB of headers) must not make
    the front hold thousands of them."""
    megabytes = 4 * 1024 * 1024  # what the front may hold of them (PARSED_CHARS)
    users = tmp_path / "users.toml"
    add_user(users, "alice", "operator")
    app = make_app(_workspace(tmp_path), ENVBOARD_USERS=UserDirectory(users))
    front = app.wsgi_app
    stranger = app.test_client(operator=False)
    junk = "x" * 200_000
    for number in range(2 * megabytes // len(junk)):
        page = stranger.get(f"/?junk={number}{junk}")
        assert page.status_code == 302  # to sign in: nobody the app knows
    held = sum(len(text) for raw in front._parsed for text in raw)
    assert 0 < held <= megabytes


@pytest.mark.parametrize("change", ["handler filter", "handler level", "logger disabled", "passed on"])
def test_the_front_obeys_logging_reconfigured_after_envboard(tmp_path, make_app, caplog, change):
    """Logging changed after `configure` (a filter or level on envboard's handler, dictConfig
    disabling the loggers it does not name, lines passed on to the root logger): the front's
    lines follow it as Flask's do, none written where logging would drop them."""
    import io
    import logging

    from webapp.web.access_log import access, configure, drain

    app = make_app(_workspace(tmp_path), ENVBOARD_ALLOW_ANONYMOUS_VIEW=True)
    idle(app)
    client = app.test_client(operator=False)
    client.get("/")  # the session's CSRF token (Flask sets the cookie)
    stream = io.StringIO()
    configure("text", stream)
    envboard = logging.getLogger("envboard")
    if change == "handler filter":
        envboard.handlers[0].addFilter(lambda record: record.name != "envboard.access")
    elif change == "handler level":
        envboard.handlers[0].setLevel(logging.WARNING)
    elif change == "logger disabled":
        access.disabled = True
    else:
        envboard.propagate = True  # the fixture puts it back
        caplog.set_level(logging.INFO)
    served = app.wsgi_app.served
    try:
        client.get("/")  # Flask's answer, kept
        client.get("/")  # the front's
    finally:
        access.disabled = False
    drain()
    assert app.wsgi_app.served == served + 1
    if change == "passed on":
        passed_on = [record for record in caplog.records if record.name == "envboard.access"]
        assert len(passed_on) == 2 and len(stream.getvalue().splitlines()) == 2
    else:
        assert stream.getvalue() == ""


def test_the_queries_of_kept_answers_count_towards_their_bound(tmp_path, make_app):
    """A kept page's key holds its raw query, which anyone who may look chooses (up to 256 KB):
    the bytes the kept answers may hold count it, or 512 strangers' queries would be 128 MB
    beside the bodies the bound is about."""
    app = make_app(_workspace(tmp_path), ENVBOARD_ALLOW_ANONYMOUS_VIEW=True)
    idle(app)
    front = app.wsgi_app
    stranger = app.test_client(operator=False)
    stranger.get("/")  # the session's CSRF token (Flask sets the cookie)
    junk = "x" * 200_000
    for number in range(3):
        assert stranger.get(f"/?junk={number}{junk}").status_code == 200  # Flask's, and kept
    kept = list(front.answers._values.items())
    assert len(kept) == 3
    held = sum(len(key[1]) + sum(map(len, answer[2])) for key, (answer, _) in kept)
    assert front.answers._bytes >= held
