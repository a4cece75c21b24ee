"""Safe among teammates (issue 21): what one teammate's files, names or requests can do to the rest.

Each test replays an attack against real files, real processes and, where the item is
about serving, a real `envboard serve` on a loopback port.
"""

import contextlib
import random
import re
import select
import socket
import string
import subprocess
import threading
import time
import urllib.request

import pytest

from tests.conftest import write_project, write_workspace
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
    assert methods <= {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "other"}, sorted(methods)[:5]
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
