"""Server time for the Versions page, warm, against the warm overview measured in the same run.

    python benchmarks/versions.py [--sizes 100] [--runs 30]

Generates workspaces of active-mode projects (all on the interpreter running this, so
every distribution it has is installed in every project: the widest matrix there is)
and waits until every probe has answered. Target: warm `/versions` on 100 projects at
most 50 ms (median, Flask test client, so server time only). Run with
PYTHONDONTWRITEBYTECODE unset.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from harness import median, write_workspace

from webapp.core.settings import Settings
from webapp.web import create_app
from webapp.web.services import EXTENSION

TARGET_MS = 50.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[100])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="envboard-versions-"))
    print(
        f"{'projects':>8} {'rows (all)':>10} {'/ ms':>7} {'/versions ms':>13} {'ratio':>6}"
        f" {'?all=1 ms':>10} {'ratio':>6} {'/api/versions ms':>17} {'target ms':>10}"
    )
    for size in args.sizes:
        workspace = write_workspace(base / f"ws{size}", active_projects=size)
        settings = Settings(workspace=workspace, state_dir=base / f"state{size}")
        app = create_app({"ENVBOARD_SETTINGS": settings})
        client = app.test_client()
        envboard = app.extensions[EXTENSION].core
        board = envboard.board
        assert client.get("/").status_code == 200
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline:
            states = envboard.monitor.snapshot.states
            if (
                states
                and all(s.plugins is not None for s in states)
                and not any(board.is_busy(p) for p in board.workspace.projects)
            ):
                break
            time.sleep(0.2)
            envboard.monitor.poke()
        rows = len(client.get("/api/versions").get_json()["packages"])
        for url in ("/", "/versions", "/versions?all=1", "/api/versions"):
            assert client.get(url).status_code == 200  # warm: templates and memo filled
        overview, page, every, api = (
            median(lambda url=url, client=client: client.get(url), args.runs) * 1000
            for url in ("/", "/versions", "/versions?all=1", "/api/versions")
        )
        envboard.close()
        print(
            f"{size:>8} {rows:>10} {overview:>7.1f} {page:>13.1f} {page / overview:>6.2f}"
            f" {every:>10.1f} {every / overview:>6.2f} {api:>17.1f} {TARGET_MS:>10.0f}"
        )
    if "PYTHONDONTWRITEBYTECODE" in os.environ:
        print("warning: PYTHONDONTWRITEBYTECODE was set", file=sys.stderr)


if __name__ == "__main__":
    main()
