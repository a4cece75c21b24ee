"""Attacks from the outside test (issue 12), each replayed against what a user would notice.

Slow and greedy clients against a real `envboard serve`, huge offsets, forged log lines,
a project name that would reveal the CSRF token, mode previews that eat the server,
symlinks that lead out of the workspace, leftovers of a killed write.
"""

import io
import json
import os
import re
import select
import socket
import time
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path
from urllib.parse import urlencode

import pytest

from tests.conftest import core, signed_in, wait_for, write_project, write_workspace
from webapp.cli import main as cli
from webapp.core.access.users import add_user
from webapp.core.pages import upgrades
from webapp.core.workspace import mode_preview, modes
from webapp.core.workspace.scan import scan_workspace


def synced_job(tmp_path: Path, extra_log_bytes: int = 0) -> tuple[Path, str, Path]:
    """A workspace whose one project was synced by `envboard sync` (a real uv run); its job's log."""
    root = write_workspace(tmp_path / "ws", ["tiny"])
    write_project(root / "tiny", "tiny", mode="persistent_uv")
    state = tmp_path / "state"
    assert cli(["sync", "tiny", "--workspace", str(root), "--state-dir", str(state)]) == 0
    logs = sorted((state / "logs").glob("*.log"))
    assert len(logs) == 1
    if extra_log_bytes:
        line = b"x" * 99 + b"\n"
        with logs[0].open("ab") as handle:
            for _ in range(extra_log_bytes // len(line)):
                handle.write(line)
    return root, logs[0].stem, logs[0]


# -- slow and greedy clients ----------------------------------------------------------------------


def timed_get(url: str, opener=None, data: bytes | None = None) -> tuple[int, float]:
    started = time.monotonic()
    opener = opener or urllib.request.build_opener()
    try:
        with opener.open(url, data=data, timeout=10) as response:
            response.read()
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    return status, time.monotonic() - started


def test_idle_and_non_reading_clients_do_not_stop_the_server(tmp_path, live_server):
    root, job_id, _ = synced_job(tmp_path, extra_log_bytes=48 * 1024 * 1024)
    users = tmp_path / "users.toml"
    token = add_user(users, "ann", "operator")
    url = live_server(root, "--users", str(users), "--allow-anonymous-view")
    port = int(url.rsplit(":", 1)[1])
    sockets = []
    try:
        # from two addresses other than the tester's, within the limit per address (100) each
        for number in range(150):  # waitress's own default stops accepting at 100
            source = (f"127.0.0.{2 + number % 2}", 0)
            sockets.append(socket.create_connection(("127.0.0.1", port), timeout=5, source_address=source))
        for _ in range(20):  # more than there are worker threads, each asking for 48 MB
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.bind(("127.0.0.4", 0))
            sock.connect(("127.0.0.1", port))
            sock.sendall(f"GET /jobs/{job_id}/raw HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
            sockets.append(sock)
        greedy = sockets[150:]
        # the server has started sending into every greedy client's (small, soon full) buffer
        wait_for(lambda: all(select.select([sock], [], [], 0)[0] for sock in greedy), timeout=30)
        jar = CookieJar()
        browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        answers = {
            "/healthz": timed_get(url + "/healthz"),
            "/": timed_get(url + "/"),
            "/signin": timed_get(url + "/signin", browser),
        }
        page = browser.open(url + "/signin", timeout=10).read().decode()
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        form = urlencode({"token": token, "csrf_token": csrf, "next": "/"}).encode()
        answers["POST /signin"] = timed_get(url + "/signin", browser, data=form)
        for path, (status, seconds) in answers.items():
            assert status == 200, (path, status)
            assert seconds < 2.0, (path, seconds)
        assert any(cookie.name == "envboard_session" for cookie in jar)
    finally:
        for sock in sockets:
            sock.close()


def test_the_raw_log_is_the_whole_file_and_a_past_the_end_offset_is_416(tmp_path, make_app):
    root, job_id, log = synced_job(tmp_path, extra_log_bytes=1024 * 1024)
    client = make_app(root).test_client()
    raw = client.get(f"/jobs/{job_id}/raw")
    assert raw.status_code == 200 and raw.data == log.read_bytes()
    assert raw.headers["Content-Disposition"] == f"attachment; filename=envboard-{job_id}.log"
    size = log.stat().st_size
    assert client.get(f"/jobs/{job_id}/log?offset={size}").status_code in (200, 286)
    for offset in (size + 1, 10**30, 2**63, 2**64):
        response = client.get(f"/jobs/{job_id}/log?offset={offset}")
        assert response.status_code == 416, offset
        assert "past the end" in response.get_data(as_text=True)


# -- small leaks and 500s -------------------------------------------------------------------------


def test_a_foreign_host_on_a_page_is_400_not_500(tmp_path, make_app):
    root = write_workspace(tmp_path / "ws", ["a"])
    write_project(root / "a", "a")
    client = make_app(root, TRUSTED_HOSTS=["localhost"]).test_client()
    for path in ("/", "/projects/a", "/history", "/no-such-page", "/signin"):
        response = client.get(path, base_url="http://evil.example")
        assert response.status_code == 400, path
        assert "not trusted" in response.get_data(as_text=True)
    assert client.get("/", base_url="http://localhost").status_code == 200


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_a_path_cannot_forge_an_access_log_line(tmp_path, make_app, log_format):
    from webapp.web.access_log import configure, drain

    root = write_workspace(tmp_path / "ws", ["a"])
    write_project(root / "a", "a")
    client = make_app(root).test_client()
    stream = io.StringIO()
    configure(log_format, stream)
    forged = "/x%0a2026-01-01 envboard.access method=GET path=/admin status=200 user=alice%0d%e2%80%a8 y"
    client.get(forged)
    client.get("/healthz")
    drain()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2, lines  # one line per request, whatever the path holds
    assert not any(line.startswith("2026-01-01") for line in lines)
    assert "\u2028" not in stream.getvalue() and "\r" not in stream.getvalue()
    if log_format == "json":
        fields = json.loads(lines[0])
        assert fields["path"].startswith("/x\n2026") and fields["status"] == 404
    else:
        assert ' path="/x\\n2026-01-01 envboard.access method=GET path=/admin' in lines[0]
        assert lines[0].endswith("remote=127.0.0.1")


def test_a_project_name_cannot_reveal_the_csrf_token(tmp_path, make_app):
    root = write_workspace(tmp_path / "ws", ["p"])
    write_project(root / "p", "x-__envboard_csrf__-y")
    client = make_app(root).test_client()
    page = client.get("/").get_data(as_text=True)
    token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    assert "x-__envboard_csrf__-y" in page  # the name shows as it is
    rows = client.get("/fragments/rows").get_data(as_text=True)
    assert "x-__envboard_csrf__-y" in rows and token not in rows
    body = page.split('<main id="main">', 1)[1]
    row = body[body.index('class="project-row"') : body.index("</tr>", body.index('class="project-row"'))]
    assert token not in row


def test_the_overview_sync_button_posts_with_the_pages_token(tmp_path, live_server, page):
    from playwright.sync_api import expect

    root = write_workspace(tmp_path / "ws", ["p"])
    write_project(root / "p", "x-__envboard_csrf__-y", mode="persistent_uv")
    url = live_server(root)
    page.goto(signed_in(url + "/"))
    page.locator("#project-p button.sync").click()
    expect(page).to_have_url(re.compile(r".*/jobs/[^/]+$"))
    expect(page.locator(".job-status .badge").first).to_have_attribute(
        "data-job-status", "succeeded", timeout=60_000
    )
    assert page.console_errors == []


# -- mode previews ---------------------------------------------------------------------------------


def big_project(root: Path, megabytes: float) -> Path:
    folder = write_project(root / "big", "big", mode="active")
    padding = "".join(f"# {'filler ' * 12}{i}\n" for i in range(int(megabytes * 1024 * 1024 / 100)))
    path = folder / "pyproject.toml"
    path.write_text(path.read_text() + padding)
    return path


def test_a_config_over_1_mb_is_refused_with_a_message_and_left_alone(tmp_path, make_app):
    root = write_workspace(tmp_path / "ws", ["big"])
    path = big_project(root, 1.5)
    before = path.read_bytes()
    client = make_app(root).test_client()
    response = client.get("/projects/big/mode?to=persistent_uv")
    assert response.status_code == 409
    assert "envboard edits config files up to 1 MB" in response.get_data(as_text=True)
    assert path.read_bytes() == before


def test_previews_are_cached_by_content_and_bounded_in_number(tmp_path, make_app, monkeypatch):
    root = write_workspace(tmp_path / "ws", ["big"])
    path = big_project(root, 0.1)  # 100 KB: well inside the CPU budget on a loaded box
    app = make_app(root)
    client = app.test_client()
    edits = []
    real_edited = mode_preview._edited
    monkeypatch.setattr(mode_preview, "_edited", lambda *a, **k: edits.append(a[0]) or real_edited(*a, **k))

    def rewrite(text: str) -> None:  # as an editor saves: whole, then the monitor sees it
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text)
        os.replace(tmp, path)
        core(app).monitor.refresh()

    first = client.get("/projects/big/mode?to=persistent_uv")
    assert first.status_code == 200
    for _ in range(5):
        assert client.get("/projects/big/mode?to=persistent_uv").status_code == 200
    assert len(edits) == 1, "the same bytes are edited once, then answered from the cache"
    rewrite(path.read_text() + "# changed\n")
    changed = client.get("/projects/big/mode?to=persistent_uv")
    assert changed.status_code == 200 and len(edits) == 2
    hashes = re.findall(
        r'name="file_hash" value="(\w+)"', first.get_data(as_text=True) + changed.get_data(as_text=True)
    )
    assert len(set(hashes)) == 2, "the new preview is of the new bytes"

    monkeypatch.setattr(mode_preview, "PREVIEW_WAIT", 0.2)
    rewrite(path.read_text() + "# changed again\n")  # not cached
    held = [mode_preview._preview_slots.acquire(timeout=1) for _ in range(mode_preview.MAX_PREVIEWS_AT_ONCE)]
    try:
        assert all(held)
        busy = client.get("/projects/big/mode?to=persistent_uv")
        assert busy.status_code == 503 and busy.headers["Retry-After"]
        assert "mode previews are being prepared right now" in busy.get_data(as_text=True)
    finally:
        for _ in held:
            mode_preview._preview_slots.release()
    assert client.get("/projects/big/mode?to=persistent_uv").status_code == 200


# -- symlinks --------------------------------------------------------------------------------------


def test_upgrade_plans_are_bounded_in_number_and_a_busy_one_says_so(tmp_path, make_app, monkeypatch):
    """A plan runs uv's resolutions in the request's thread: while PLANS_AT_ONCE are being made,
    the next is refused at once (JSON, page) and an apply starts nothing, so plans asked over and
    over cannot hold every request thread."""
    root = write_workspace(tmp_path / "ws", ["alpha"])
    write_project(root / "alpha", "alpha", mode="active")
    app = make_app(root)
    client = app.test_client()
    monkeypatch.setattr(upgrades, "PLAN_WAIT", 0.2)
    held = [upgrades._plan_slots.acquire(timeout=1) for _ in range(upgrades.PLANS_AT_ONCE)]
    try:
        assert all(held)
        busy = client.get("/api/upgrades/plan?target=fixpkg==2.0")
        assert busy.status_code == 503 and busy.headers["Retry-After"] == "2"
        assert "upgrade plans are being made right now" in busy.get_json()["message"]
        page = client.get("/upgrades/plan?target=fixpkg==2.0")
        assert page.status_code == 503 and "try again in a moment" in page.get_data(as_text=True)
    finally:
        for _ in held:
            upgrades._plan_slots.release()
    assert client.get("/api/upgrades/plan?target=fixpkg==2.0").status_code == 200


def test_discovery_never_follows_a_symlink_out_of_the_scanned_folder(tmp_path, make_app):
    outside = write_project(tmp_path / "elsewhere" / "secret", "secret", mode="active")
    before = (outside / "pyproject.toml").read_bytes()
    scanned = tmp_path / "scanned"
    write_project(scanned / "mine", "mine", mode="active")
    (scanned / "linked").symlink_to(outside, target_is_directory=True)
    (scanned / "zz-inner").symlink_to(scanned / "mine", target_is_directory=True)  # inside: fine
    workspace = scan_workspace(scanned)
    by_rel = {p.rel_path: p for p in workspace.projects}
    assert "linked" in by_rel and "outside the scanned folder" in by_rel["linked"].error
    assert by_rel["linked"].error_file == scanned / "linked"
    assert by_rel["mine"].error is None
    client = make_app(scanned).test_client()
    assert "outside the scanned folder" in client.get("/").get_data(as_text=True)
    linked_id = by_rel["linked"].id
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/").get_data(as_text=True)).group(1)
    client.post(f"/projects/{linked_id}/mode", data={"to": "persistent_uv", "csrf_token": csrf})
    assert (outside / "pyproject.toml").read_bytes() == before


def test_a_config_symlinked_out_of_the_workspace_is_neither_read_nor_written(tmp_path, make_app):
    secret = tmp_path / "elsewhere" / "pyproject.toml"
    secret.parent.mkdir()
    secret.write_text(
        '# SECRET COMMENT\n[project]\nname = "x"\n[tool.dg]\ndirectory_type = "project"\n'
        '[tool.dg.project]\nroot_module = "x"\n'
    )
    before = secret.read_bytes()
    root = write_workspace(tmp_path / "ws", ["linked"])
    (root / "linked").mkdir()
    (root / "linked" / "pyproject.toml").symlink_to(secret)
    project = scan_workspace(root).projects[0]
    assert project.error and "symlink" in project.error and "outside" in project.error
    assert project.error_file == root / "linked" / "pyproject.toml"
    client = make_app(root).test_client()
    page = client.get(f"/projects/{project.id}/mode?to=persistent_uv").get_data(as_text=True)
    assert "SECRET COMMENT" not in page
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/").get_data(as_text=True)).group(1)
    client.post(f"/projects/{project.id}/mode", data={"to": "persistent_uv", "csrf_token": csrf})
    assert (root / "linked" / "pyproject.toml").is_symlink() and secret.read_bytes() == before


def test_a_config_that_became_a_symlink_after_the_preview_is_not_written_through(tmp_path):
    root = write_workspace(tmp_path / "ws", ["p"])
    write_project(root / "p", "p", mode="active")
    project = scan_workspace(root).projects[0]
    change = mode_preview.preview(project, "persistent_uv")
    real = root / "p" / "real.toml"
    (root / "p" / "pyproject.toml").rename(real)
    (root / "p" / "pyproject.toml").symlink_to(real)
    with pytest.raises(modes.ModeChangeError, match="symlink"):
        modes.apply(change, change.file_hash)
    assert (root / "p" / "pyproject.toml").is_symlink()


# -- leftovers of a killed mode write ---------------------------------------------------------------


def test_serve_removes_temp_files_a_killed_mode_write_left(tmp_path, live_server):
    root = write_workspace(tmp_path / "ws", ["p"])
    folder = write_project(root / "p", "p", mode="active")
    stale = [folder / ".pyproject.toml.k3_x9abc.envboard-tmp", folder / ".dg.toml.a1b2c3d4.envboard-tmp"]
    kept = [
        folder / ".pyproject.toml.fresh123.envboard-tmp",  # young: maybe mid-write elsewhere
        folder / "pyproject.toml.a1b2c3d4.envboard-tmp",  # not the exact name
        folder / ".pyproject.toml.a1b2c3d4.envboard-tmp.bak",
        root / ".pyproject.toml.a1b2c3d4.envboard-tmp",  # not a project folder
    ]
    for path in [*stale, *kept]:
        path.write_text("half a config")
    old = time.time() - 3600
    for path in [*stale, *kept[1:]]:
        os.utime(path, (old, old))
    live_server(root)
    assert not any(path.exists() for path in stale)
    assert all(path.exists() for path in kept)
    assert "left by a mode change that was killed" in next(tmp_path.glob("server-*.log")).read_text()
