"""The front's own CPU per request, in one thread, against a bare WSGI app returning the same bytes.

    python benchmarks/front_cost.py [--size 100] [--requests 2000] [--runs 5] [--scratch DIR]

wrk on a shared 2-core box measures the box as much as the code. This measures what the
code costs: the real app (`create_app`, a users file with one operator, anonymous viewing
allowed, the access log configured as `envboard serve` does, written to /dev/null) over a
real workspace of `--size` active projects left to finish its probes; then the WSGI callable
waitress calls (`app`, the front before Flask) called `--requests` times in this thread with
a fresh environ each time, as waitress builds one, and the body iterated and closed. Printed
per case: CPU microseconds per request (`time.process_time`, which counts every thread of the
process, the access log's writer included; best of `--runs`), and the ratio of a bare WSGI app
(benchmarks/ceiling.py's) returning bytes of the same size, measured in the same run.
The cases: the page anonymous and signed in, and the poll's "nothing changed" 204 for both.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from ceiling import create_app as bare_app  # noqa: E402
from harness import workspace_of  # noqa: E402

from webapp.core.access.users import UserDirectory, add_user  # noqa: E402
from webapp.core.pages.overview import overview_version  # noqa: E402
from webapp.core.settings import Settings  # noqa: E402
from webapp.web import create_app  # noqa: E402
from webapp.web.access_log import configure  # noqa: E402
from webapp.web.services import EXTENSION  # noqa: E402


def environ_for(path: str, query: str, headers: dict[str, str]) -> dict:
    """What waitress puts in a GET's environ (waitress/task.py `get_environment`)."""
    environ = {
        "REQUEST_METHOD": "GET",
        "SERVER_PORT": "8080",
        "SERVER_NAME": "localhost",
        "SERVER_SOFTWARE": "envboard",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "REQUEST_URI": path + ("?" + query if query else ""),
        "QUERY_STRING": query,
        "wsgi.url_scheme": "http",
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_HOST": "127.0.0.1",
        "REMOTE_PORT": "50000",
        "HTTP_HOST": "127.0.0.1:8080",
        "HTTP_USER_AGENT": "wrk",
        "wsgi.version": (1, 0),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "wsgi.input_terminated": True,
        "wsgi.file_wrapper": None,
    }
    environ.update({"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()})
    return environ


def call(app, environ: dict) -> tuple[str, int]:
    """The answer's status and body size; the chunks are iterated as waitress does, not joined."""
    answer = {}

    def start_response(status, headers, exc_info=None):
        answer["status"] = status

    environ = dict(environ)
    environ["wsgi.input"] = io.BytesIO(b"")
    chunks = app(environ, start_response)
    size = 0
    try:
        for chunk in chunks:
            size += len(chunk)
    finally:
        if hasattr(chunks, "close"):
            chunks.close()
    return answer["status"], size


def cpu_per_request(app, environ: dict, requests: int, runs: int) -> float:
    """Best of `runs`: CPU microseconds of the process per request."""
    best = float("inf")
    for _ in range(runs):
        started = time.process_time()
        for _ in range(requests):
            call(app, environ)
        best = min(best, (time.process_time() - started) / requests * 1e6)
    return best


def cookie_of(client) -> str:
    return "envboard_session=" + client.get_cookie("envboard_session").value


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=100)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--scratch", type=Path)
    args = parser.parse_args()
    base = args.scratch or Path(tempfile.mkdtemp(prefix="envboard-front-cost-"))
    workspace, state = workspace_of(base, args.size)
    users_path = base / "front-cost-users.toml"
    users_path.unlink(missing_ok=True)
    token = add_user(users_path, "alice", "operator")
    configure("text", open(os.devnull, "w"))  # noqa: SIM115 (lives as long as the process)
    app = create_app(
        {
            "ENVBOARD_SETTINGS": Settings(workspace=workspace, state_dir=state),
            "ENVBOARD_USERS": UserDirectory(users_path),
            "ENVBOARD_ALLOW_ANONYMOUS_VIEW": True,
            "TRUSTED_HOSTS": None,
        }
    )
    core = app.extensions[EXTENSION].core
    try:
        deadline = time.monotonic() + 900
        while not (states := core.monitor.snapshot.states) or any(s.pending or s.checking for s in states):
            if time.monotonic() > deadline:
                raise SystemExit("probes did not finish")
            time.sleep(0.5)
        time.sleep(1)
        anonymous = app.test_client()
        anonymous.get("/")  # the session gets its CSRF token
        signed_in = app.test_client()
        form = signed_in.get("/signin").get_data(as_text=True)
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
        assert signed_in.post("/signin", data={"token": token, "csrf_token": csrf}).status_code == 303
        signed_in.get("/")
        since = overview_version(core)
        cases = {}
        for viewer, client in (("anonymous", anonymous), ("signed in", signed_in)):
            cookie = {"Cookie": cookie_of(client)}
            cases[f"page, {viewer}"] = environ_for("/", "", cookie)
            cases[f"poll 204, {viewer}"] = environ_for(
                "/fragments/rows", f"since={since}", {**cookie, "HX-Request": "true"}
            )
        page_size = call(app, cases["page, anonymous"])[1]
        bare = bare_app(page_size)
        bare_cases = {"page": environ_for("/", "", {}), "poll 204": environ_for("/204", "", {})}
        print(f"{args.size} projects, page {page_size / 1000:.0f} KB, load average {os.getloadavg()[0]:.2f}")
        print(f"{'case':>22} {'CPU us/request':>15} {'bare WSGI us':>13} {'bare / front':>13}")
        served = app.wsgi_app.served
        for name, environ in cases.items():
            status, _ = call(app, environ)  # warm: the first is Flask's, kept
            assert status[:3] == ("204" if "poll" in name else "200"), (name, status)
            ours = cpu_per_request(app, environ, args.requests, args.runs)
            reference = bare_cases[name.split(",")[0]]
            theirs = cpu_per_request(bare, reference, args.requests, args.runs)
            print(f"{name:>22} {ours:>15.1f} {theirs:>13.1f} {theirs / ours:>12.2f}x", flush=True)
        asked = len(cases) * (args.requests * args.runs + 1)
        print(f"answered by the front: {app.wsgi_app.served - served} of {asked} (the first of each: Flask)")
        print(f"load average at end {os.getloadavg()[0]:.2f}")
    finally:
        core.close()


if __name__ == "__main__":
    main()
