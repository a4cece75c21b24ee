"""Safe among teammates (issue 21): what one teammate's files, names or requests can do to the rest.

Each test replays an attack against real files, real processes and, where the item is
about serving, a real `envboard serve` on a loopback port.
"""

import contextlib
import json
import os
import random
import re
import select
import socket
import string
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import core, uv, wait_for, write_project, write_workspace
from tests.test_faults import small_mount  # noqa: F401 - a fixture
from webapp.cli.hosting import public_url_warning
from webapp.core.access.users import add_user


def test_a_pasted_command_does_not_run_what_a_folder_name_holds(tmp_path, make_app):
    root = write_workspace(tmp_path / "ws", ["p/$(touch PWNED)"])
    write_project(root / "p" / "$(touch PWNED)", "evil", mode="persistent_uv")
    client = make_app(root).test_client()
    project_id = client.get("/api/projects").get_json()["projects"][0]["id"]
    commands = client.get(f"/api/projects/{project_id}").get_json()["commands"]
    assert set(commands) == {"plugin probe", "sync"}
    shell = tmp_path / "shell"
    shell.mkdir()
    for command in commands.values():
        # as a person pastes it: into a shell, in some folder of theirs; the command's own
        # cd must land in the project (pwd prints it) and nothing in the name may run
        pasted = command.replace(" && ", " && pwd && exit 0 && ", 1)
        done = subprocess.run(["bash", "-c", pasted], cwd=shell, capture_output=True, text=True, timeout=30)
        assert done.stdout.strip() == str(root / "p" / "$(touch PWNED)"), (command, done.stderr)
    assert not list(tmp_path.rglob("PWNED"))


def raw_request(port: int, head: str, body: bytes = b"") -> bytes:
    """One HTTP/1.0 request on its own socket; the whole answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        sock.sendall(head.encode() + b"\r\n\r\n" + body)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.slow
def test_random_methods_do_not_grow_the_metrics(tmp_path, live_server):
    root = write_workspace(tmp_path / "ws", ["a"])
    write_project(root / "a", "a")
    url = live_server(root)
    port = int(url.rsplit(":", 1)[1])
    for _ in range(200):
        method = "".join(random.choices(string.ascii_uppercase, k=12))
        assert raw_request(port, f"{method} /healthz HTTP/1.0").startswith(b"HTTP/1.")
    scrape = urllib.request.urlopen(url + "/metrics", timeout=20).read().decode()
    methods = set(re.findall(r'envboard_request_duration_seconds_count\{[^}]*method="([^"]+)"', scrape))
    assert methods <= {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "other"}, sorted(methods)[
        :5
    ]
    assert "other" in methods


def answer_while_sending(port: int, head: str, body_chunks, limit: int) -> bytes:
    """Send a request head and then body chunks until the server answers (or `limit` chunks went)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head.encode() + b"\r\n\r\n")
        for sent, chunk in enumerate(body_chunks):
            readable, _, _ = select.select([sock], [], [], 0)
            if readable or sent >= limit:
                break
            try:
                sock.sendall(chunk)
            except OSError:  # the server answered and closed while we were sending
                break
        return sock.recv(65536)


@pytest.mark.slow
def test_a_huge_body_is_refused_before_it_is_read(tmp_path, live_server):
    root = write_workspace(tmp_path / "ws", ["a"])
    write_project(root / "a", "a")
    users = tmp_path / "users.toml"
    add_user(users, "ann", "operator")
    url = live_server(root, "--users", str(users))
    port = int(url.rsplit(":", 1)[1])
    megabyte = b"t" * (1024 * 1024)
    declared = answer_while_sending(
        port,
        "POST /signin HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {1000 * 1024 * 1024}",
        iter(lambda: megabyte, None),
        limit=8,  # 8 MB sent and still no answer: the server is reading all 1000 MB
    )
    assert declared.startswith(b"HTTP/1.1 413"), declared[:200]
    chunk = b"%x\r\n%s\r\n" % (len(megabyte), megabyte)
    chunked = answer_while_sending(
        port,
        "POST /signin HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        "Transfer-Encoding: chunked",
        iter(lambda: chunk, None),
        limit=8,
    )
    assert chunked.startswith(b"HTTP/1.1 413"), chunked[:200]
    assert urllib.request.urlopen(url + "/healthz", timeout=10).status == 200


def trickling_sockets(port: int, count: int, source: str) -> list[socket.socket]:
    """`count` connections from `source`, each having sent the first line of a request, never the end."""
    sockets = []
    for _ in range(count):
        sock = socket.socket()
        sock.bind((source, 0))
        sock.connect(("127.0.0.1", port))
        sock.setblocking(False)
        sockets.append(sock)
    for sock in sockets:
        with contextlib.suppress(OSError):
            sock.send(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    return sockets


def closed_by_server(sock: socket.socket) -> bool:
    try:
        return sock.recv(4096) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


class Trickle(threading.Thread):
    """Sends a header line on each socket every `every` seconds until stopped: waitress's idle timer never runs out."""

    def __init__(self, sockets: list[socket.socket], every: float) -> None:
        super().__init__(daemon=True)
        self.open = list(sockets)
        self.every = every
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            for sock in self.open:
                with contextlib.suppress(OSError):
                    sock.send(b"X-Trickle: 1\r\n")
            self.stopped.wait(self.every)
            self.open = [sock for sock in self.open if not closed_by_server(sock)]


@pytest.mark.slow
def test_trickling_clients_from_one_address_do_not_lock_others_out(tmp_path, live_server):
    root = write_workspace(tmp_path / "ws", ["a"])
    write_project(root / "a", "a")
    # a short channel timeout keeps the test short; the default is 30 s
    url = live_server(root, "--channel-timeout", "2")
    port = int(url.rsplit(":", 1)[1])
    # more than the connection limit (1000), all from one address that is not the tester's
    sockets = trickling_sockets(port, 1010, "127.0.0.2")
    trickle = Trickle(sockets, every=0.3)
    trickle.start()
    try:
        assert urllib.request.urlopen(url + "/healthz", timeout=10).status == 200
        for _ in range(300):  # 30 s at most, well past the 2 s deadline and its 1 s clean-up
            if not trickle.open:
                break
            time.sleep(0.1)
        assert not trickle.open, f"{len(trickle.open)} trickling connections still open"
    finally:
        trickle.stopped.set()
        trickle.join()
        for sock in sockets:
            sock.close()


# -- one hostile file never freezes the board -----------------------------------------------------


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def hostile_files_workspace(tmp_path: Path, uv_bin: str, *, giants: bool = True) -> Path:
    """A workspace where one project at a time has a file that is not what it claims to be."""
    names = ["fine", "fifo-lock", "fifo-pyproject"] + (["zero-lock", "sparse-lock"] if giants else [])
    root = write_workspace(tmp_path / "ws", names)
    for name in names:
        write_project(root / name, name, mode="persistent_uv")
        uv(uv_bin, "venv", "--quiet", cwd=root / name)  # so that uv's status check would run
    os.mkfifo(root / "fifo-lock" / "uv.lock")
    (root / "fifo-pyproject" / "pyproject.toml").unlink()
    os.mkfifo(root / "fifo-pyproject" / "pyproject.toml")
    if giants:
        (root / "zero-lock" / "uv.lock").symlink_to("/dev/zero")
        with (root / "sparse-lock" / "uv.lock").open("wb") as handle:
            handle.truncate(2 * 1024**3)  # 2 GB that take no disk
    return root


@pytest.mark.slow
def test_fifos_devices_and_giants_are_one_projects_error_and_the_board_keeps_working(
    tmp_path, live_server, uv_bin
):
    root = hostile_files_workspace(tmp_path, uv_bin)
    url = live_server(root)  # binds: the scan does not wait on a FIFO
    pid = live_server.pids[url]

    def projects() -> dict:
        listed = json.loads(urllib.request.urlopen(url + "/api/projects", timeout=20).read())
        return {project["name"]: project for project in listed["projects"]}

    assert "named pipe (FIFO)" in projects()["fifo-pyproject"]["error"]

    def settled() -> dict | None:
        known = projects()
        texts = {name: json.dumps(project) for name, project in known.items()}
        expected = {
            "fifo-lock": "named pipe (FIFO), not a regular file",
            "zero-lock": "symlink to /dev/zero, outside",
            "sparse-lock": "2048.0 MB, more than envboard reads",
        }
        done = all(why in texts[name] and "uv.lock" in texts[name] for name, why in expected.items())
        return known if done else None

    wait_for(settled, timeout=60)
    assert urllib.request.urlopen(url + "/healthz", timeout=10).status == 200
    # a change to another project is still seen: the monitor is not stuck in a read
    pyproject = root / "fine" / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"persistent_uv"', '"active"'))
    wait_for(lambda: projects()["fine"]["mode"] == "active", timeout=30)
    listing = subprocess.run(
        [
            sys.executable,
            "-m",
            "webapp",
            "list",
            "--workspace",
            str(root),
            "--state-dir",
            str(tmp_path / "s2"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "named pipe (FIFO)" in listing.stdout + listing.stderr
    peak = peak_rss_mb(pid)
    print(f"server peak RSS with the hostile files: {peak:.0f} MB")
    assert peak < 400, peak


def test_a_uv_lock_linked_out_of_its_folder_is_not_read(tmp_path, make_app):
    outside = tmp_path / "elsewhere" / "uv.lock"
    outside.parent.mkdir()
    outside.write_text('version = 1\n\n[[package]]\nname = "secret-pin"\nversion = "6.6.6"\n')
    root = write_workspace(tmp_path / "ws", ["a"])
    write_project(root / "a", "a", mode="persistent_uv")
    (root / "a" / "uv.lock").symlink_to(outside)
    app = make_app(root)
    client = app.test_client()
    core(app).monitor.refresh()

    def shown() -> str | None:
        text = client.get("/api/projects/a").get_data(as_text=True)
        return text if "outside" in text else None

    text = wait_for(shown, timeout=30)
    assert "secret-pin" not in text and "6.6.6" not in text
    assert "6.6.6" not in client.get("/api/projects/a/packages").get_data(as_text=True)


@pytest.mark.slow
def test_a_huge_docstring_and_error_are_cut_in_the_probes_answer(uv_workspace, make_board, tmp_path):
    board = make_board(uv_workspace, state_dir=tmp_path / "state")
    project = board.workspace.projects[0]
    components = project.path / "src" / "alpha" / "components"
    huge = "word " * (2 * 1024 * 1024)  # 10 MB in one paragraph
    (components / "greeting.py").write_text(
        f'from dagster import Component\n\n\nclass GreetingComponent(Component):\n    """{huge}"""\n\n'
        "    def build_defs(self, context):\n        return None\n"
    )
    (components / "broken.py").write_text(f"raise RuntimeError({huge!r})\n")
    plugins = board.state(project, wait=True).plugins
    assert plugins.failure is None
    summary = next(c["summary"] for c in plugins.components if c["key"].endswith("GreetingComponent"))
    assert summary.startswith("word word") and len(summary) <= 4096
    error = next(e for e in plugins.errors if e["module"] == "alpha.components.broken")
    assert error["type"] == "RuntimeError"
    assert len(error["message"]) <= 4096 and len(error["traceback"]) <= 4096
    cached = sum(path.stat().st_size for path in (tmp_path / "state").rglob("*.json"))
    assert cached < 256 * 1024, cached


# -- a foreign Host --------------------------------------------------------------------------------


def test_a_foreign_host_is_a_400_naming_the_trusted_hosts_in_users_mode(tmp_path, live_server):
    root = write_workspace(tmp_path / "ws", ["a"])
    write_project(root / "a", "a")
    users = tmp_path / "users.toml"
    add_user(users, "ann", "operator")
    url = live_server(root, "--users", str(users))
    port = int(url.rsplit(":", 1)[1])
    for path in ("/healthz", "/signin", "/static/envboard.css", "/", "/api/projects"):
        answer = raw_request(port, f"GET {path} HTTP/1.0\r\nHost: devbox.example.com")
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.split(b" ", 2)[1] == b"400", (path, head)
        assert b"devbox.example.com" in body and b"127.0.0.1" in body and b"--public-url" in body, path
    log = next(tmp_path.glob("server-*.log")).read_text()
    assert "Traceback" not in log


def test_rows_render_ahead_under_a_specific_address(tmp_path, make_app, caplog):
    root = write_workspace(tmp_path / "ws", ["a"])
    write_project(root / "a", "a")
    app = make_app(root, TRUSTED_HOSTS=["10.1.2.3"])
    core(app).monitor.refresh()
    client = app.test_client(operator=False)  # a look, from that address
    assert client.get("/", base_url="http://10.1.2.3").status_code == 200
    core(app).monitor.refresh()
    assert "rendering rows ahead failed" not in caplog.text


def test_a_non_loopback_host_without_public_url_is_warned_about_at_start():
    warning = public_url_warning("10.1.2.3", None, 8765)
    assert "--public-url http://NAME:8765" in warning and "10.1.2.3" in warning
    assert public_url_warning("10.1.2.3", "http://devbox:8765", 8765) is None
    assert public_url_warning("127.0.0.1", None, 8765) is None


# -- /readyz ---------------------------------------------------------------------------------------


def test_readyz_is_503_while_the_state_dir_is_full(tmp_path, make_app, small_mount):  # noqa: F811
    root = write_workspace(tmp_path / "ws", ["a"])
    write_project(root / "a", "a")
    # room besides the databases, their logs and the monitor's cache for readyz's own 64 KiB
    # write once the filler is gone, whatever the background wrote just before it
    state = small_mount("state", size="1m")
    client = make_app(root, state_dir=state).test_client()
    assert client.get("/readyz").status_code == 200
    with open(state / "filler", "wb", buffering=0) as filler, contextlib.suppress(OSError):
        while filler.write(b"x" * 4096):  # until ENOSPC
            pass
    answer = client.get("/readyz")
    assert answer.status_code == 503 and "No space left" in answer.get_json()["reason"]
    (state / "filler").unlink()
    again = client.get("/readyz")
    assert again.status_code == 200, again.get_json()


def test_readyz_is_503_while_the_history_database_is_corrupt(tmp_path, make_app):
    root = write_workspace(tmp_path / "ws", ["a"])
    write_project(root / "a", "a")
    state = tmp_path / "state"
    client = make_app(root, state_dir=state).test_client()
    assert client.get("/readyz").status_code == 200
    for leftover in state.glob("envboard.sqlite3-*"):
        leftover.unlink()
    (state / "envboard.sqlite3").write_bytes(b"this is not a database, it was overwritten\n" * 200)
    answer = client.get("/readyz")
    assert answer.status_code == 503, answer.get_json()
    assert "envboard.sqlite3" in answer.get_json()["reason"]


# -- mode previews ---------------------------------------------------------------------------------


def test_a_preview_of_thousands_of_dotted_keys_is_refused_clearly(tmp_path, make_app):
    root = write_workspace(tmp_path / "ws", ["dotted"])
    folder = write_project(root / "dotted", "dotted", mode="active")
    path = folder / "pyproject.toml"
    path.write_text(path.read_text() + "".join(f"tool.dg.project.k{i} = {i}\n" for i in range(3000)))
    before = path.read_bytes()
    client = make_app(root).test_client()
    answer = client.get("/projects/dotted/mode?to=persistent_uv")
    assert answer.status_code == 409
    text = answer.get_data(as_text=True)
    assert re.search(r"has 3,0\d\d keys", text) and "up to 1,000 keys" in text and "by hand" in text
    assert path.read_bytes() == before


def test_a_layout_tomlkit_cannot_edit_is_refused_not_a_500(tmp_path, make_app):
    root = write_workspace(tmp_path / "ws", ["odd"])
    folder = root / "odd"
    folder.mkdir()
    # dotted dg keys, no project table: tomlkit's proxy for them cannot take a new one
    (folder / "pyproject.toml").write_text(
        '[project]\nname = "odd"\nversion = "0.1.0"\n\n[tool]\ndg.directory_type = "project"\n'
        "dg.k1 = 1\n\n[tool.other]\nx = 1\n\n[tool.dg.more]\ny = 2\n"
    )
    client = make_app(root).test_client()
    answer = client.get("/projects/odd/mode?to=persistent_uv")
    assert answer.status_code in (200, 409), answer.get_data(as_text=True)[:300]


@pytest.mark.slow
def test_a_preview_that_would_take_long_is_stopped_and_refused(tmp_path, make_app):
    root = write_workspace(tmp_path / "ws", ["dotted"])
    folder = write_project(root / "dotted", "dotted", mode="active")
    path = folder / "pyproject.toml"
    # few enough keys to pass the count, in the layout whose edit grows with their square
    path.write_text(path.read_text() + "".join(f"tool.dg.project.k{i} = {i}\n" for i in range(600)))
    before = path.read_bytes()
    client = make_app(root).test_client()
    started = time.thread_time()
    answer = client.get("/projects/dotted/mode?to=persistent_uv")
    assert answer.status_code == 409
    assert "more than 2 s of CPU" in answer.get_data(as_text=True)
    assert path.read_bytes() == before
    again = client.get("/projects/dotted/mode?to=persistent_uv")  # the refusal is remembered
    assert again.status_code == 409
    print(f"refused after {time.thread_time() - started:.1f} s of CPU")


def test_a_sync_on_a_uv_lock_that_is_a_fifo_fails_with_the_located_error_and_starts_no_uv(tmp_path, make_app):
    from tests.conftest import OPERATOR_TOKEN
    from tests.test_truth import _release

    root = write_workspace(tmp_path / "ws", ["p"])
    project = write_project(root / "p", "p", mode="persistent_uv")
    lock = project / "uv.lock"
    os.mkfifo(lock)
    client = make_app(root).test_client()
    try:
        answer = client.post("/api/projects/p/sync", headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"})
        assert answer.status_code == 202, answer.get_data(as_text=True)
        location = answer.headers["Location"]

        def ended():
            job = client.get(location).get_json()
            return job if job["status"] not in ("queued", "running") else None

        job = wait_for(ended, timeout=30)  # uv on the FIFO would wait for the job's timeout (an hour)
        assert job["status"] == "failed"
        assert f"{lock}: is a named pipe (FIFO), not a regular file" in job["message"], job["message"]
        log = Path(job["log_path"]).read_text()
        assert "named pipe (FIFO)" in log and "$ " not in log, log  # no command was started
    finally:
        _release(lock)  # a reader left blocked on it (before the fix: uv) goes
