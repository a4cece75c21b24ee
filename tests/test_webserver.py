"""The Dagster webserver when it cannot help: unreachable, or answering with an error.

A remote service is the one thing these tests stand in for: a real HTTP server on a loopback
port answers what a webserver that refuses or breaks answers. That a reload and a status work
against the real `dagster-webserver` is `test_real_webserver.py`'s part.
"""

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import core, free_port, wait_for, write_project, write_workspace
from webapp.core.app import Envboard
from webapp.core.probe.webserver import DagsterWebserver, location_of
from webapp.core.settings import Settings
from webapp.core.workspace.scan import scan_workspace


@pytest.fixture
def answering():
    """A loopback HTTP server answering every POST with `answering.reply` = (status, body); it
    keeps what it was asked in `answering.asked`."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's name
            length = int(self.headers.get("Content-Length", 0))
            server.asked.append((self.path, json.loads(self.rfile.read(length))))
            status, body = server.reply
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.asked, server.reply = [], (200, b"{}")
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def hanging():
    """A loopback webserver that answers a reload only once `hanging.release` is set (as a
    webserver loading a slow or hung location does); it counts the reloads it was asked."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's name
            asked = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            data = {"workspaceOrError": {"__typename": "Workspace", "locationEntries": []}}
            if "reloadRepositoryLocation" in asked["query"]:
                server.reloads.append(asked["variables"]["name"])
                server.release.wait()
                entry = {"name": "alpha", "loadStatus": "LOADED", "locationOrLoadError": {"__typename": "X"}}
                data = {"reloadRepositoryLocation": {"__typename": "WorkspaceLocationEntry", **entry}}
            body = json.dumps({"data": data}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.reloads, server.release = [], threading.Event()
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.release.set()
    server.shutdown()
    server.server_close()


def reply(server, status: int, body) -> None:
    server.reply = (status, body if isinstance(body, bytes) else json.dumps(body).encode())


def test_a_webserver_that_refuses_or_breaks_is_said_plainly(answering):
    webserver = DagsterWebserver(answering.url + "/prefix/")
    reply(
        answering,
        200,
        {
            "data": {
                "reloadRepositoryLocation": {
                    "__typename": "RepositoryLocationNotFound",
                    "message": "Location shop does not exist",
                }
            }
        },
    )
    answer = webserver.reload("shop")
    assert answering.asked[-1][0] == "/prefix/graphql"
    assert answering.asked[-1][1]["variables"] == {"name": "shop"}
    assert answer.reachable and answer.loads is None
    assert (
        answer.problem
        == f"the Dagster webserver at {answering.url}/prefix did not reload 'shop': Location shop does not exist"
    )

    reply(answering, 200, {"errors": [{"message": 'Cannot query field "reloadRepositoryLocation"'}]})
    assert webserver.reload("shop").problem.endswith(
        'no answer envboard understands: Cannot query field "reloadRepositoryLocation"'
    )
    reply(answering, 502, b"<html>bad gateway</html>")
    assert (
        webserver.reload("shop").problem
        == f"the Dagster webserver at {answering.url}/prefix answered HTTP 502"
    )
    reply(answering, 200, b"not json")
    assert webserver.reload("shop").problem.endswith("gave no answer envboard understands")

    # a webserver without the location: its status says which it has
    entry = {
        "name": "other",
        "loadStatus": "LOADED",
        "locationOrLoadError": {"__typename": "RepositoryLocation"},
    }
    reply(
        answering,
        200,
        {"data": {"workspaceOrError": {"__typename": "Workspace", "locationEntries": [entry]}}},
    )
    webserver.refresh()
    assert webserver.status("missing").problem.endswith("has no code location 'missing' (it has: other)")
    assert webserver.status("other").loads is True


def test_an_unreachable_webserver_is_said_once_and_never_an_error_page(tmp_path, make_app, caplog):
    root = write_workspace(tmp_path / "ws", ["projects/sales"])
    write_project(root / "projects" / "sales", "sales")
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    settings = Settings(workspace=root, state_dir=tmp_path / "state", refresh_interval=0.2, dagster_url=dead)
    app = make_app(root, ENVBOARD_SETTINGS=settings)
    client = app.test_client()
    with caplog.at_level(logging.WARNING, logger="envboard.webserver"):
        shown = wait_for(
            lambda: (
                (r := client.get("/api/projects/projects-sales/definitions").get_json())["webserver"][
                    "problem"
                ]
                and r["webserver"]
            )
        )
        assert shown["reachable"] is False and shown["location"] == "sales"
        assert shown["problem"].startswith(f"the Dagster webserver at {dead} cannot be reached: ")
        core(app).board.webserver.refresh()  # asked again: still unreachable, not said again
        page = client.get("/projects/projects-sales")
    assert page.status_code == 200
    assert page.get_data(as_text=True).count("cannot be reached") == 1
    assert client.get("/api/projects/projects-sales").get_json()["webserver"]["reachable"] is False
    said = [r for r in caplog.records if r.name == "envboard.webserver"]
    assert len(said) == 1 and "cannot be reached" in said[0].getMessage()


@pytest.mark.slow
def test_a_sync_succeeds_and_says_so_when_the_webserver_cannot_be_told(tmp_path, uv_workspace):
    dead = f"http://127.0.0.1:{free_port()}"
    envboard = Envboard(Settings(workspace=uv_workspace, state_dir=tmp_path / "state", dagster_url=dead))
    try:
        record, _ = envboard.jobs.sync(envboard.board.project("projects-alpha"), "ana")
        done = envboard.jobs.wait(record.id, timeout=300)
        assert done.status == "succeeded", done.message
        # the webserver is asked once the job has ended; its answer comes into the record after
        done = wait_for(lambda: (job := envboard.jobs.get(record.id)).detail.get("webserver") and job)
        told = done.detail["webserver"]
        assert told["reachable"] is False and told["location"] == "alpha"
        log = Path(done.log_path).read_text()
        assert f"asking the Dagster webserver at {dead} to reload 'alpha'" in log
        assert f"the Dagster webserver: the Dagster webserver at {dead} cannot be reached" in log
    finally:
        envboard.close()


def test_the_location_is_named_as_dg_names_it(tmp_path):
    root = write_workspace(tmp_path / "ws", ["projects/sales", "projects/stock"])
    write_project(root / "projects" / "sales", "sales-dist")
    stock = write_project(root / "projects" / "stock", "stock")
    text = (stock / "pyproject.toml").read_text()
    (stock / "pyproject.toml").write_text(text + 'code_location_name = "warehouse"\n')
    names = {p.rel_path: location_of(p) for p in scan_workspace(root).projects}
    # the folder's name (not the distribution's), unless the project names its location
    assert names == {"projects/sales": "sales", "projects/stock": "warehouse"}


@pytest.mark.slow
def test_a_webserver_that_does_not_answer_a_reload_holds_up_no_job(tmp_path, uv_workspace, hanging):
    envboard = Envboard(
        Settings(workspace=uv_workspace, state_dir=tmp_path / "state", dagster_url=hanging.url)
    )
    try:
        alpha = envboard.board.project("projects-alpha")
        first, _ = envboard.jobs.sync(alpha, "ana")
        done = envboard.jobs.wait(first.id, timeout=300)
        assert done.status == "succeeded", done.message
        # the job ended without the webserver's answer, and the webserver was asked all the same
        assert "webserver" not in done.detail
        wait_for(lambda: "alpha" in hanging.reloads)
        assert not hanging.release.is_set()
        # the project's lock is free: a second sync starts and ends while the reload still hangs
        second, joined = envboard.jobs.sync(alpha, "bo")
        assert not joined and second.id != first.id
        assert envboard.jobs.wait(second.id, timeout=300).status == "succeeded"
        assert not hanging.release.is_set()
        # once the webserver answers, the first job's record and log say what it answered (the
        # second's reload came after it, one at a time, or gave way to a newer one)
        hanging.release.set()
        told = wait_for(lambda: envboard.jobs.get(first.id).detail.get("webserver"))
        assert told["loads"] is True and told["location"] == "alpha"
        assert "the Dagster webserver: LOADED" in Path(envboard.jobs.get(first.id).log_path).read_text()
    finally:
        hanging.release.set()
        envboard.close()


LOADING_DG = """
import sys

def main():
    if sys.argv[1:3] == ["check", "defs"]:
        print("All definitions loaded successfully.")
    else:
        print('{"assets": [{"key": "orders"}]}')
    return 0
"""


@pytest.mark.slow
def test_sync_and_check_from_a_shell_tell_the_webserver_and_say_what_it_answered(tmp_path, answering):
    """A git hook or CI step runs `envboard sync` or `envboard check` with --dagster-url: what
    loads is reloaded there too, and the command waits for the answer and prints it. (The
    stand-in dg only says that the definitions load; the real one is test_real_webserver.py's.)"""
    from tests.conftest import build_stand_in_dg
    from tests.test_cli import envboard

    wheels = tmp_path / "wheels"
    dependencies = build_stand_in_dg(wheels, "loading-dg", LOADING_DG)
    root = write_workspace(tmp_path / "ws", ["shop"])
    write_project(root / "shop", "shop", mode="persistent_uv", dependencies=dependencies, wheelhouse=wheels)
    entry = {
        "name": "shop",
        "loadStatus": "LOADED",
        "locationOrLoadError": {"__typename": "RepositoryLocation"},
    }
    reply(
        answering,
        200,
        {"data": {"reloadRepositoryLocation": {"__typename": "WorkspaceLocationEntry", **entry}}},
    )
    where = ("--workspace", str(root), "--state-dir", str(tmp_path / "state"), "--dagster-url", answering.url)

    synced = envboard("sync", "shop", *where, timeout=300)
    assert synced.returncode == 0, synced.stderr
    said = f"envboard: shop: the Dagster webserver at {answering.url}, 'shop': LOADED: the location loads"
    assert said in synced.stderr
    checked = envboard("check", "shop", "--no-cache", "--json", *where)
    assert checked.returncode == 0, checked.stderr
    assert json.loads(checked.stdout)["projects"][0]["loads"] is True
    assert said in checked.stderr
    reloads = [asked for _, asked in answering.asked if "reloadRepositoryLocation" in asked["query"]]
    assert [asked["variables"] for asked in reloads] == [{"name": "shop"}, {"name": "shop"}]
