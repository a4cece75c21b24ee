"""Sessions that end, sign-in limits that slow guessers but not colleagues, `next`, the proxy header.

Each test attacks from the breaking side: a copied cookie, a rotated token, an attacker
behind the same NAT, a crafted `next`, a forged proxy header.
"""

import contextlib
import os
import re
import stat
import sys
import time
from urllib.parse import urlsplit

import pytest

from tests.conftest import wait_for, write_project, write_workspace
from webapp.cli import main as cli
from webapp.core.access.sessions import SessionStore, parse_duration
from webapp.core.access.users import UserDirectory, add_user, list_users
from webapp.web.services import EXTENSION


@pytest.fixture
def hosted(tmp_path, make_app):
    root = write_workspace(tmp_path / "ws", ["uvp"])
    write_project(root / "uvp", "uvp", mode="persistent_uv")
    path = tmp_path / "users.toml"
    tokens = {"alice": add_user(path, "alice", "operator"), "victor": add_user(path, "victor", "viewer")}

    def factory(**config):
        return make_app(root, ENVBOARD_USERS=UserDirectory(path), **config)

    return factory, tokens, path


def form_csrf(client) -> str:
    return re.search(
        r'name="csrf_token" value="([^"]+)"', client.get("/signin").get_data(as_text=True)
    ).group(1)


def sign_in(client, token: str, next_target: str = "/", addr: str = "127.0.0.1"):
    return client.post(
        "/signin",
        data={"token": token, "csrf_token": form_csrf(client), "next": next_target},
        environ_base={"REMOTE_ADDR": addr},
    )


def cookie_of(client) -> str:
    return client.get_cookie("envboard_session").value


def with_cookie(app, value: str):
    thief = app.test_client()
    thief.set_cookie("envboard_session", value)
    return thief


def test_sign_out_ends_the_session_for_every_copy_of_the_cookie(hosted):
    factory, tokens, _ = hosted
    app = factory()
    client = app.test_client()
    assert sign_in(client, tokens["alice"]).status_code == 303
    stolen = cookie_of(client)
    assert with_cookie(app, stolen).get("/").status_code == 200
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/").get_data(as_text=True)).group(1)
    assert client.post("/signout", data={"csrf_token": csrf}).status_code == 303
    replay = with_cookie(app, stolen).get("/")
    assert replay.status_code == 302 and "/signin" in replay.headers["Location"]


def test_a_session_survives_a_restart(hosted):
    factory, tokens, _ = hosted
    first = factory(SECRET_KEY="kept")
    client = first.test_client()
    sign_in(client, tokens["victor"])
    again = factory(SECRET_KEY="kept")  # same state dir, same key: a restart
    assert with_cookie(again, cookie_of(client)).get("/").status_code == 200


@pytest.mark.parametrize("command", ["rotate", "remove"])
def test_rotate_and_remove_end_sessions_in_a_running_server_within_a_request(
    hosted, tmp_path, capsys, command
):
    factory, tokens, path = hosted
    app = factory()
    client = app.test_client()
    sign_in(client, tokens["alice"])
    other_browser = app.test_client()
    sign_in(other_browser, tokens["alice"])
    assert client.get("/").status_code == 200
    code = cli(["users", command, "alice", "--users", str(path), "--state-dir", str(tmp_path / "state")])
    assert code == 0
    said = capsys.readouterr()
    assert "2 browser sessions ended" in said.out + said.err
    for browser in (client, other_browser):
        response = browser.get("/")
        assert response.status_code == 302 and "/signin" in response.headers["Location"]


def test_a_session_ended_elsewhere_in_the_same_instant_ends_on_the_next_request(hosted, tmp_path):
    """The server remembers a session's row between requests; a removal by another process
    (`envboard users remove`) counts at once even when the file's time and size show nothing:
    a delete within one tick of the file system's clock leaves both as they were."""
    factory, tokens, _ = hosted
    app = factory()
    client = app.test_client()
    sign_in(client, tokens["alice"])
    assert client.get("/").status_code == client.get("/").status_code == 200  # read, then remembered
    database = tmp_path / "state" / "sessions.sqlite3"
    before = database.stat()
    assert SessionStore(database.parent).end_user("alice") == 1  # another connection, as the CLI's
    os.utime(database, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert database.stat().st_size == before.st_size
    page = client.get("/")
    assert page.status_code == 302 and "/signin" in page.headers["Location"]


def test_a_copy_written_over_the_sessions_file_with_the_same_counter_is_read_at_once(tmp_path):
    """A backup restored in place (the same inode), or a new file given a freed inode number,
    can carry the change counter of the remembered row's version and other rows: the session
    it does not hold has ended on the next request."""
    import shutil
    import sqlite3

    (tmp_path / "state").mkdir()
    store = SessionStore(tmp_path / "state")
    digest = "d" * 64
    session_id = store.create("alice", digest)
    assert store.check(session_id, digest) is not None
    assert store.check(session_id, digest) is not None  # remembered
    copy = tmp_path / "restored.sqlite3"
    shutil.copyfile(store.path, copy)
    with contextlib.closing(sqlite3.connect(copy)) as other, other:
        other.execute("DELETE FROM sessions")
        other.execute("CREATE TABLE notes (body BLOB)")
        other.execute("INSERT INTO notes VALUES (zeroblob(20000))")
    counter = store.path.read_bytes()[24:28]
    with open(copy, "r+b") as written:  # the same counter as the file it replaces
        os.pwrite(written.fileno(), counter, 24)
    inode = store.path.stat().st_ino
    with open(store.path, "r+b") as original:  # written over in place, as `cp` does
        original.write(copy.read_bytes())
        original.truncate()
    assert store.path.stat().st_ino == inode and store.path.read_bytes()[24:28] == counter
    assert store.check(session_id, digest) is None


def test_a_thread_per_request_server_does_not_keep_a_descriptor_per_thread(tmp_path):
    """werkzeug's threaded server answers each request in a new thread: each thread that asked
    about a session held the sessions file open after it ended, until the process ran out."""
    import gc
    import threading

    (tmp_path / "state").mkdir()
    store = SessionStore(tmp_path / "state")
    digest = "d" * 64
    session_id = store.create("alice", digest)
    for _ in range(50):
        request = threading.Thread(target=store.check, args=(session_id, digest))
        request.start()
        request.join()
    gc.collect()
    held = [fd for fd in os.listdir("/proc/self/fd") if _points_at(fd, store.path)]
    assert len(held) <= 2  # this thread's connection and descriptor


def test_a_session_s_last_seen_is_written_by_one_request_not_by_every_one_in_flight(tmp_path):
    """Every request of a session in flight finds last_seen due at the same moment (a page and
    its polls, tabs); each one writing it queued a commit apiece on SQLite's lock. While another
    process holds that lock, one request waits to write and the others are answered at once."""
    import sqlite3
    import threading

    from webapp.core.access.sessions import TOUCH_EVERY

    (tmp_path / "state").mkdir()
    now = [1_000_000.0]
    store = SessionStore(tmp_path / "state", clock=lambda: now[0])
    digest = "d" * 64
    session_id = store.create("alice", digest)
    now[0] += TOUCH_EVERY + 1  # last_seen is due
    counter = store.path.read_bytes()[24:28]
    answered: list[object] = []
    with contextlib.closing(sqlite3.connect(store.path, isolation_level=None)) as other:
        other.execute("BEGIN IMMEDIATE")  # another process is writing: writers wait, readers go on
        requests = [
            threading.Thread(target=lambda: answered.append(store.check(session_id, digest)))
            for _ in range(6)
        ]
        for request in requests:
            request.start()
        try:
            wait_for(lambda: len(answered) >= 5, timeout=4, interval=0.01)
        finally:
            other.execute("ROLLBACK")
        for request in requests:
            request.join(10)
    assert len(answered) == 6 and all(info is not None and info.user == "alice" for info in answered)
    after = store.path.read_bytes()[24:28]
    assert int.from_bytes(after, "big") == int.from_bytes(counter, "big") + 1  # one write


def _points_at(fd: str, path) -> bool:
    try:
        return os.readlink(f"/proc/self/fd/{fd}") == str(path)
    except OSError:
        return False  # closed meanwhile


def test_rotate_prints_a_working_token_once_and_the_old_one_stops(hosted, tmp_path, capsys):
    factory, tokens, path = hosted
    assert cli(["users", "rotate", "alice", "--users", str(path), "--state-dir", str(tmp_path / "s")]) == 0
    new = capsys.readouterr().out.strip()
    directory = UserDirectory(path)
    assert directory.authenticate(new).name == "alice" and directory.get("alice").role == "operator"
    assert directory.authenticate(tokens["alice"]) is None
    assert new not in path.read_text()


def test_a_token_replaced_by_hand_ends_sessions_opened_with_the_old_one(hosted):
    import tomlkit

    factory, tokens, path = hosted
    app = factory()
    client = app.test_client()
    sign_in(client, tokens["victor"])
    document = tomlkit.parse(path.read_text())
    for entry in document["users"]:
        if entry["name"] == "victor":
            entry["token_sha256"] = "0" * 64
    path.write_text(tomlkit.dumps(document))
    assert client.get("/").status_code == 302


class Clock:
    """A session store's clock that moves only when the test moves it."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def with_clock(app, clock: Clock) -> None:
    """The app's session store (same file, same lifetimes) reads the time from `clock`."""
    services = app.extensions[EXTENSION]
    store = services.sessions
    services.sessions = SessionStore(store.path.parent, store.idle, store.max_age, clock=clock)


def test_idle_and_absolute_lifetimes(hosted):
    factory, tokens, _ = hosted
    clock = Clock()
    app = factory(ENVBOARD_SESSION_IDLE=1.0, ENVBOARD_SESSION_MAX_AGE=60.0)
    with_clock(app, clock)
    client = app.test_client()
    sign_in(client, tokens["victor"])
    for _ in range(3):  # each use within the idle time keeps the session
        clock.advance(0.9)
        assert client.get("/").status_code == 200
    clock.advance(1.3)
    assert client.get("/").status_code == 302  # idle too long

    app = factory(ENVBOARD_SESSION_IDLE=60.0, ENVBOARD_SESSION_MAX_AGE=1.5)
    with_clock(app, clock)
    client = app.test_client()
    sign_in(client, tokens["victor"])
    for _ in range(3):  # in use all the time, younger than its maximum age
        clock.advance(0.45)
        assert client.get("/").status_code == 200
    clock.advance(0.45)  # and still ends
    assert client.get("/").status_code == 302


def test_the_store_keeps_only_hashes_of_session_ids(hosted, tmp_path):
    import sqlite3

    from flask.sessions import SecureCookieSessionInterface

    factory, tokens, _ = hosted
    app = factory()
    client = app.test_client()
    sign_in(client, tokens["alice"])
    session_id = SecureCookieSessionInterface().get_signing_serializer(app).loads(cookie_of(client))["sid"]
    dump = "\n".join(sqlite3.connect(tmp_path / "state" / "sessions.sqlite3").iterdump())
    assert "alice" in dump and session_id not in dump


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_state_dir_that_cannot_be_written_says_why_sign_in_is_unavailable(hosted, tmp_path):
    factory, tokens, _ = hosted
    app = factory()
    state = tmp_path / "state"
    os.chmod(state, stat.S_IRUSR | stat.S_IXUSR)
    try:
        client = app.test_client()
        page = client.get("/signin")
        assert page.status_code == 503 and "Sign-in is unavailable" in page.get_data(as_text=True)
        assert sign_in(client, tokens["alice"]).status_code == 503
        bearer = client.get("/api/projects", headers={"Authorization": f"Bearer {tokens['alice']}"})
        assert bearer.status_code == 200
    finally:
        os.chmod(state, 0o755)


def test_a_state_dir_that_is_a_file_says_why_sign_in_is_unavailable(hosted, tmp_path):
    factory, tokens, _ = hosted
    app = factory()
    blocker = tmp_path / "blocked"
    blocker.write_text("not a folder")
    app.extensions[EXTENSION].sessions = SessionStore(blocker)
    client = app.test_client()
    page = client.get("/signin")
    assert page.status_code == 503
    text = page.get_data(as_text=True)
    assert "Sign-in is unavailable" in text and "blocked" in text
    assert sign_in(client, tokens["alice"]).status_code == 503
    assert client.get("/").status_code == 302  # still a page, not a 500
    assert client.get("/healthz").status_code == 200


# -- users on the command line -------------------------------------------------------------------


def test_users_add_refuses_an_existing_name_unless_replace(tmp_path, capsys):
    path = tmp_path / "u.toml"
    assert cli(["users", "add", "carol", "--role", "operator", "--users", str(path)]) == 0
    first = capsys.readouterr().out.strip()
    assert cli(["users", "add", "carol", "--users", str(path)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert UserDirectory(path).authenticate(first).role == "operator"  # nothing lost
    code = cli(
        [
            "users",
            "add",
            "carol",
            "--role",
            "viewer",
            "--replace",
            "--users",
            str(path),
            "--state-dir",
            str(tmp_path / "s"),
        ]
    )
    assert code == 0
    second = capsys.readouterr().out.strip()
    assert UserDirectory(path).authenticate(second).role == "viewer"
    assert UserDirectory(path).authenticate(first) is None


def test_users_list_and_remove(tmp_path, capsys):
    path = tmp_path / "u.toml"
    add_user(path, "ann", "operator")
    add_user(path, "bob", "viewer")
    assert cli(["users", "list", "--users", str(path)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^ann\s+operator$", out, re.M) and re.search(r"^bob\s+viewer$", out, re.M)
    assert "token" not in out
    assert cli(["users", "remove", "bob", "--users", str(path), "--state-dir", str(tmp_path / "s")]) == 0
    assert [u.name for u in list_users(path)] == ["ann"]
    assert cli(["users", "remove", "bob", "--users", str(path), "--state-dir", str(tmp_path / "s")]) == 2
    assert "no user 'bob'" in capsys.readouterr().err


def test_durations():
    assert parse_duration("12h") == 43200 and parse_duration("7d") == 604800 and parse_duration("90") == 90
    for bad in ("", "h", "-1h", "0", "soon"):
        with pytest.raises(ValueError):
            parse_duration(bad)


# -- the sign-in limit ----------------------------------------------------------------------------


def limited_by(app, clock: Clock) -> None:
    """The app's sign-in limiter reads the time from `clock`: a slow machine's requests do not
    outlast its delays."""
    app.extensions[EXTENSION].signin_limiter.clock = clock


def test_guessing_is_slowed_down_and_the_wait_grows(hosted):
    factory, _, _ = hosted
    client = factory().test_client()
    limited_by(client.application, Clock())
    codes = [sign_in(client, f"guess-{i:02d}-xxxxxxxx", addr="10.0.0.7").status_code for i in range(7)]
    assert codes[:5] == [401] * 5 and codes[5:] == [429, 429]
    limiter = client.application.extensions[EXTENSION].signin_limiter
    first_wait = limiter.blocked_for("10.0.0.7", "another-guess")
    limiter.fail("10.0.0.7", "one-more")
    assert limiter.blocked_for("10.0.0.7", "another-guess") > first_wait  # delays grow


def test_an_attacker_behind_the_same_nat_cannot_lock_out_a_colleague(hosted):
    factory, tokens, _ = hosted
    app = factory()
    limited_by(app, Clock())
    colleague = app.test_client()
    assert sign_in(colleague, tokens["alice"], addr="203.0.113.9").status_code == 303  # signed in before
    attacker = app.test_client()
    for i in range(20):
        sign_in(attacker, f"wrong-token-{i}", addr="203.0.113.9")
    assert sign_in(attacker, "yet-another-guess", addr="203.0.113.9").status_code == 429
    later = app.test_client()  # alice, from the same NAT, in a new browser
    assert sign_in(later, tokens["alice"], addr="203.0.113.9").status_code == 303
    other = app.test_client()  # somebody elsewhere is not affected at all
    assert sign_in(other, tokens["victor"], addr="198.51.100.1").status_code == 303


def test_knowing_a_token_prefix_does_not_make_guessing_the_rest_fast(hosted):
    factory, tokens, _ = hosted
    app = factory()
    limited_by(app, Clock())
    sign_in(app.test_client(), tokens["alice"], addr="192.0.2.1")
    attacker = app.test_client()
    prefix = tokens["alice"][:8]
    codes = [sign_in(attacker, prefix + f"guess{i}", addr=f"192.0.2.{i + 10}").status_code for i in range(8)]
    assert codes[:5] == [401] * 5 and set(codes[5:]) == {429}


def test_wrong_bearer_tokens_are_limited_too(hosted):
    factory, tokens, _ = hosted
    client = factory().test_client()
    limited_by(client.application, Clock())
    codes = [
        client.get(
            "/api/projects",
            headers={"Authorization": f"Bearer nope-{i}"},
            environ_base={"REMOTE_ADDR": "10.1.1.1"},
        ).status_code
        for i in range(7)
    ]
    assert codes[:5] == [401] * 5 and codes[5:] == [429, 429]
    good = client.get(
        "/api/projects",
        headers={"Authorization": f"Bearer {tokens['alice']}"},
        environ_base={"REMOTE_ADDR": "10.1.1.2"},
    )
    assert good.status_code == 200


# -- next, the proxy header -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        "/\t/evil.example/x",
        "/\n/evil.example",
        "/\r\nSet-Cookie: x=1",
        "//evil.example",
        "///evil.example",
        "https://evil.example/",
        "/\\evil.example",
        "\\\\evil.example",
        "javascript:alert(1)",
        "evil.example",
        " //evil.example",
        "/%09/evil.example",
    ],
)
def test_next_never_leaves_the_site_and_never_500s(hosted, target):
    factory, tokens, _ = hosted
    response = sign_in(factory().test_client(), tokens["alice"], next_target=target)
    assert response.status_code == 303
    location = response.headers["Location"]
    assert location.startswith("/") and not location.startswith("//") and "\\" not in location
    browser_reads = urlsplit(re.sub(r"[\t\r\n]", "", location).replace("\\", "/"), "https")
    assert browser_reads.netloc == "" and browser_reads.scheme == "https"  # same origin


def test_next_keeps_a_real_path_and_query(hosted):
    factory, tokens, _ = hosted
    response = sign_in(factory().test_client(), tokens["alice"], next_target="/projects/uvp?tab=plugins")
    assert response.headers["Location"] == "/projects/uvp?tab=plugins"


def test_the_proxy_user_header_counts_only_from_the_trusted_proxy_and_never_over_a_bearer(hosted):
    import ipaddress

    factory, tokens, _ = hosted
    app = factory(
        ENVBOARD_PROXY_USER_HEADER="X-Forwarded-User",
        ENVBOARD_TRUSTED_PROXIES=(ipaddress.ip_network("10.9.9.9/32"),),
    )
    client = app.test_client()
    header = {"X-Forwarded-User": "alice"}
    assert (
        client.get("/api/projects", headers=header, environ_base={"REMOTE_ADDR": "10.9.9.9"}).status_code
        == 200
    )
    forged = client.get("/api/projects", headers=header, environ_base={"REMOTE_ADDR": "10.9.9.8"})
    assert forged.status_code == 401
    # a viewer's bearer token next to the header stays a viewer: the header never upgrades it
    both = client.post(
        "/projects/uvp/sync",
        headers={**header, "Authorization": f"Bearer {tokens['victor']}"},
        environ_base={"REMOTE_ADDR": "10.9.9.9"},
    )
    assert both.status_code == 403


def test_serve_refuses_the_proxy_header_without_a_trusted_proxy(tmp_path, capsys):
    path = tmp_path / "u.toml"
    add_user(path, "ann", "operator")
    code = cli(
        [
            "serve",
            "--workspace",
            str(tmp_path),
            "--state-dir",
            str(tmp_path / "s"),
            "--users",
            str(path),
            "--trust-proxy-user-header",
            "X-Forwarded-User",
        ]
    )
    assert code == 2 and "--trusted-proxy" in capsys.readouterr().err


def test_rotate_from_a_shell_signs_a_browser_out_of_a_running_server(tmp_path, live_server):
    import subprocess
    import urllib.request
    from http.cookiejar import CookieJar
    from urllib.parse import urlencode

    root = write_workspace(tmp_path / "ws", ["uvp"])
    write_project(root / "uvp", "uvp")
    users = tmp_path / "users.toml"
    token = add_user(users, "ann", "operator")
    url = live_server(root, "--users", str(users))
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
    page = browser.open(url + "/signin", timeout=10).read().decode()
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    form = urlencode({"token": token, "csrf_token": csrf, "next": "/history"}).encode()
    assert browser.open(url + "/signin", data=form, timeout=10).geturl() == url + "/history"
    assert browser.open(url + "/", timeout=10).geturl() == url + "/"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "webapp",
            "users",
            "rotate",
            "ann",
            "--users",
            str(users),
            "--state-dir",
            str(tmp_path / "state"),
        ],
        check=True,
        capture_output=True,
    )
    assert browser.open(url + "/", timeout=10).geturl().startswith(url + "/signin")


def test_one_look_serves_the_requests_that_arrived_before_it_began_and_no_later_one(tmp_path):
    """Under load many requests are in flight at once, and one look at the users file and the
    sessions database serves every request that arrived before the look began: what they see
    is what was true when they arrived. A request that arrives after a sign-out or a
    `users remove` has finished is never answered from a look begun before it."""
    from webapp.core.access.users import remove_user

    (tmp_path / "state").mkdir()
    users_path = tmp_path / "users.toml"
    add_user(users_path, "bob", "operator")
    users, store = UserDirectory(users_path), SessionStore(tmp_path / "state")
    _, digest = users.get_with_digest("bob")
    session_id = store.create("bob", digest)
    early = time.monotonic_ns()  # a request arrives
    assert users.get_with_digest("bob", time.monotonic_ns())[0] is not None  # others' looks, begun after
    assert store.check(session_id, digest, time.monotonic_ns()) is not None
    assert store.check(session_id, digest, time.monotonic_ns()) is not None  # the row remembered
    SessionStore(tmp_path / "state").end_user("bob")  # another process, as `envboard users remove`
    remove_user(users_path, "bob")
    # the request that arrived before the removal: the looks begun after it answer it
    assert users.get_with_digest("bob", early)[0] is not None
    assert store.check(session_id, digest, early) is not None
    arrived = time.monotonic_ns()  # the next request, after the removal finished
    assert users.get_with_digest("bob", arrived) == (None, None)
    assert store.check(session_id, digest, arrived) is None


def test_users_remove_counts_on_the_next_request_of_a_connection_kept_open(tmp_path, live_server):
    """waitress stamps each request when it has arrived whole, and a look begun after that
    answers it: on a kept-open connection, whose earlier requests made looks of their own, the
    request after `users remove` finished is refused, by the front as by Flask."""
    import http.client
    import subprocess
    import urllib.request
    from http.cookiejar import CookieJar
    from urllib.parse import urlencode

    root = write_workspace(tmp_path / "ws", ["uvp"])
    write_project(root / "uvp", "uvp")
    users = tmp_path / "users.toml"
    token = add_user(users, "ann", "operator")
    url = live_server(root, "--users", str(users))
    jar = CookieJar()
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = browser.open(url + "/signin", timeout=10).read().decode()
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    browser.open(url + "/signin", data=urlencode({"token": token, "csrf_token": csrf}).encode(), timeout=10)
    browser.open(url + "/", timeout=10).read()  # the session's CSRF token: the front answers from now on
    cookie = next(f"{c.name}={c.value}" for c in jar if c.name == "envboard_session")
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)

    def ask(path: str, headers: dict[str, str]) -> tuple[int, bool]:
        connection.request("GET", path, headers={"Cookie": cookie, **headers})
        answer = connection.getresponse()
        answer.read()
        return answer.status, answer.will_close

    asks = {"/": {}, "/fragments/rows?since=0": {"HX-Request": "true"}}
    for _ in range(3):
        for path, headers in asks.items():
            assert ask(path, headers) == (200, False)
    remove = ["users", "remove", "ann", "--users", str(users), "--state-dir", str(tmp_path / "state")]
    subprocess.run([sys.executable, "-m", "webapp", *remove], check=True, capture_output=True)
    assert ask("/fragments/rows?since=0", {"HX-Request": "true"})[0] == 401
    assert ask("/", {})[0] == 302


def test_a_request_sent_behind_another_on_its_connection_arrives_once_that_one_is_answered():
    """HTTP/1.1 lets a client send requests one after another on a connection without waiting
    (pipelining), and waitress reads them in one go but answers them in turn. What the first
    wrote (a sign-out) must be seen by the second, so the second counts as arriving when the
    first was answered, not when waitress read it: a look begun in between must not answer it."""
    import socket
    import threading

    from waitress import create_server
    from waitress.wasyncore import close_all, loop

    from tests.conftest import wait_for
    from webapp.slow_clients import RECEIVED, guard

    socket_map: dict = {}
    arrived: dict[str, int | None] = {}
    answered: dict[str, int] = {}

    def app(environ, start_response):
        path = environ["PATH_INFO"]
        arrived[path] = environ.get(RECEIVED)
        if path == "/first":  # answered once the second has been read behind it
            wait_for(lambda: any(len(c.requests) == 2 for c in list(server.active_channels.values())))
        answered[path] = time.monotonic_ns()
        start_response("204 No Content", [])
        return [b""]

    server = create_server(app, host="127.0.0.1", port=0, threads=1, map=socket_map)
    guard(socket_map, per_address=0)
    stopped = threading.Event()

    def serve() -> None:
        while not stopped.is_set():
            loop(timeout=0.05, map=socket_map, count=1)

    serving = threading.Thread(target=serve)
    serving.start()
    try:
        with socket.create_connection(server.socket.getsockname(), timeout=30) as client:
            client.sendall(b"GET /first HTTP/1.1\r\nHost: x\r\n\r\nGET /second HTTP/1.1\r\nHost: x\r\n\r\n")
            answers = b""
            while answers.count(b"204 No Content") < 2:
                answers += client.recv(65536)
    finally:
        stopped.set()
        serving.join()
        server.task_dispatcher.shutdown()
        close_all(socket_map)
    assert arrived["/first"] is not None and arrived["/first"] < answered["/first"]
    assert arrived["/second"] >= answered["/first"]
