"""The overview served from bytes encoded once (issue 23): gzip when asked, each viewer's own
identity and CSRF token around rows shared by all, and an access log that holds no request."""

from __future__ import annotations

import gzip
import re
import threading

import pytest

from tests.conftest import core, idle, signed_in, write_project, write_workspace
from webapp.core.access.users import UserDirectory, add_user

GZIP = {"Accept-Encoding": "gzip, deflate, br"}


def _workspace(tmp_path, names=("alpha", "beta")):
    root = write_workspace(tmp_path / "ws", list(names))
    for name in names:
        write_project(root / name, name)
    return root


def _csrf(page: str) -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)


def test_the_overview_is_gzipped_when_the_browser_accepts_it(tmp_path, make_app):
    app = make_app(_workspace(tmp_path))
    client = app.test_client()
    idle(app)  # every probe and check has answered: both answers show the same snapshot
    plain = client.get("/")
    assert plain.headers.get("Content-Encoding") is None
    assert "Accept-Encoding" in plain.headers["Vary"]
    zipped = client.get("/", headers=GZIP)
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in zipped.headers["Vary"]
    assert int(zipped.headers["Content-Length"]) == len(zipped.data)
    # the same page (same session, same token), and gzip's own check of CRC and length passes
    assert gzip.decompress(zipped.data) == plain.data
    assert len(zipped.data) < len(plain.data) / 3
    refused = client.get("/", headers={"Accept-Encoding": "gzip;q=0, identity"})
    assert refused.headers.get("Content-Encoding") is None and refused.data == plain.data

    fragment = client.get("/fragments/rows", headers=GZIP)
    assert fragment.headers["Content-Encoding"] == "gzip"
    rows = gzip.decompress(fragment.data).decode()
    assert rows.lstrip().startswith("<tbody") and 'id="project-alpha"' in rows
    assert rows == client.get("/fragments/rows").get_data(as_text=True)


def test_the_same_bytes_are_reused_until_the_snapshot_changes(tmp_path, make_app, monkeypatch):
    from webapp.web import encoded

    root = _workspace(tmp_path)
    app = make_app(root)
    client = app.test_client()
    idle(app)  # every probe and check has answered: the snapshot stays as it is
    first = client.get("/", headers=GZIP).data
    compressions = []
    real = encoded.zlib.compressobj
    monkeypatch.setattr(encoded.zlib, "compressobj", lambda *a: compressions.append(a) or real(*a))
    assert [client.get("/", headers=GZIP).data for _ in range(3)] == [first] * 3
    assert compressions == []  # nothing compressed again, nothing rendered again

    write_project(root / "beta", "beta-renamed")
    core(app).monitor.refresh()
    changed = gzip.decompress(client.get("/", headers=GZIP).data).decode()
    assert "beta-renamed" in changed  # a new snapshot: new bytes
    assert compressions


def test_each_viewer_sees_their_own_identity_and_token_around_shared_rows(tmp_path, make_app):
    users = tmp_path / "users.toml"
    tokens = {"alice": add_user(users, "alice", "operator"), "victor": add_user(users, "victor", "viewer")}
    app = make_app(
        _workspace(tmp_path), ENVBOARD_USERS=UserDirectory(users), ENVBOARD_ALLOW_ANONYMOUS_VIEW=True
    )
    idle(app)  # every probe and check has answered: each viewer's two answers show one snapshot
    pages = {}
    for name in ("alice", "anonymous", "victor", "alice again"):
        client = app.test_client()
        if name != "anonymous":
            form = client.get("/signin").get_data(as_text=True)
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
            token = tokens[name.split()[0]]
            assert client.post("/signin", data={"token": token, "csrf_token": csrf}).status_code == 303
        page = gzip.decompress(client.get("/", headers=GZIP).data).decode()
        assert page == client.get("/").get_data(as_text=True)
        who = re.search(r'<span class="user" id="current-user">(\w+)', page).group(1)
        pages[name] = (who, _csrf(page), page)
        # the token the page carries is the one this session's POSTs are checked against
        sync = client.post("/projects/alpha/sync", headers={"X-CSRF-Token": _csrf(page), "HX-Request": "1"})
        assert sync.status_code != 403 or "viewer" in sync.get_data(as_text=True), name

    assert [pages[name][0] for name in pages] == ["alice", "anonymous", "victor", "alice"]
    assert len({pages[name][1] for name in pages}) == 4  # four sessions, four tokens
    assert "You can look but not change" in pages["victor"][2]
    assert "You can look but not change" not in pages["alice"][2]
    for name, (_, _token, page) in pages.items():
        others = {other[1] for key, other in pages.items() if key != name}
        assert not any(other in page for other in others), name


def test_a_stuck_log_writer_holds_up_no_request(tmp_path, make_app):
    from webapp.web.access_log import configure, drain

    class Stuck:
        """A log stream whose writes wait until the test lets them through (a full pipe, a slow disk)."""

        def __init__(self):
            self.release, self.lines = threading.Event(), []

        def write(self, text):
            self.release.wait()
            self.lines.append(text)

        def flush(self):
            pass

    stream = Stuck()
    app = make_app(_workspace(tmp_path))
    configure("text", stream)
    answered = threading.Event()

    def visit():
        assert app.test_client().get("/healthz").status_code == 200
        answered.set()

    visitor = threading.Thread(target=visit, daemon=True)
    visitor.start()
    try:
        assert answered.wait(60), "the request waited for the log writer"
    finally:
        stream.release.set()
        visitor.join(10)
    drain()
    assert any("path=/healthz" in line for line in stream.lines)
    configure("text")


@pytest.fixture(autouse=True)
def _log_back_to_stderr():
    yield
    from webapp.web.access_log import configure

    configure("text")


@pytest.mark.browser
@pytest.mark.slow
def test_a_live_change_sends_and_swaps_only_the_row_that_changed(tmp_path, live_server, page):
    from playwright.sync_api import expect

    root = _workspace(tmp_path, ("alpha", "beta", "gamma"))
    url = live_server(root)
    page.goto(signed_in(url + "/"))
    rows = page.locator("tr.project-row")
    expect(rows).to_have_count(3)
    expect(page.locator("#rows [aria-busy]")).to_have_count(0, timeout=60_000)  # probes done
    page.evaluate("document.querySelectorAll('tr.project-row').forEach(r => r.dataset.kept = 'yes')")
    polls = []
    page.on("response", lambda answer: "/fragments/rows?" in answer.url and polls.append(answer))

    (root / "beta" / "pyproject.toml").write_text("[project\nname = 'beta'\n")  # broken: the row says so
    expect(page.locator("#project-beta .config-error")).to_be_visible(timeout=30_000)

    # the other rows are the same elements, untouched; the changed one is new
    assert page.locator("#project-alpha").get_attribute("data-kept") == "yes"
    assert page.locator("#project-gamma").get_attribute("data-kept") == "yes"
    assert page.locator("#project-beta").get_attribute("data-kept") is None
    changes = [answer.text() for answer in polls if answer.status == 200]
    assert changes and all("project-alpha" not in text and "project-gamma" not in text for text in changes)
    assert any('id="project-beta"' in text for text in changes)
    expect(rows).to_have_count(3)
    assert page.console_errors == []


def test_kept_answers_are_bounded_by_bytes_not_only_by_count():
    """At 2,000 projects each kept answer holds a 3 MB body: a day of snapshots must not pile up."""
    from webapp.web.encoded import Kept

    kept = Kept(kept=256, max_bytes=10_000_000)
    for version in range(100):
        kept.put(("page", version), f"body {version}", 3_000_000)
    assert kept.get(("page", 99)) == "body 99" and kept.get(("page", 97)) == "body 97"
    assert kept.get(("page", 96)) is None and kept.get(("page", 0)) is None
    kept.put(("huge", 0), "one answer bigger than the bound", 50_000_000)
    assert kept.get(("huge", 0)) is not None  # the newest is always kept
