"""Server time for the overview page, warm and cold, and throughput under concurrent clients.

    python benchmarks/overview.py [--sizes 10 100 500] [--requests 400]

Generates workspaces of active-mode projects in a temporary folder. "cold" is the first
paint with an empty plugin cache (probes start in the background; the page must not wait
for them). Throughput is measured against `envboard serve` (waitress) on loopback with 16
concurrent clients. Run with PYTHONDONTWRITEBYTECODE unset.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from harness import Server, median, write_workspace

from webapp.core.settings import Settings
from webapp.web import create_app
from webapp.web.services import EXTENSION


def throughput(url: str, requests: int, clients: int = 16) -> float:
    def fetch(_):
        with urllib.request.urlopen(url, timeout=30) as response:
            response.read()

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(fetch, range(requests)))
    return requests / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 500])
    parser.add_argument("--requests", type=int, default=400)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="envboard-overview-"))
    print(f"{'projects':>8} {'cold first paint ms':>20} {'warm / ms (median)':>19} {'req/s, 16 clients':>18}")
    for size in args.sizes:
        workspace = write_workspace(base / f"ws{size}", active_projects=size)
        state = base / f"state{size}"
        # as `envboard serve` does: the monitor's first picture is taken before serving
        settings = Settings(workspace=workspace, state_dir=state)
        app = create_app({"ENVBOARD_SETTINGS": settings})
        client = app.test_client()
        started = time.perf_counter()
        assert client.get("/").status_code == 200
        cold = (time.perf_counter() - started) * 1000
        envboard = app.extensions[EXTENSION].core
        board = envboard.board
        deadline = time.monotonic() + 600
        while any(board.is_busy(p) for p in board.workspace.projects) and time.monotonic() < deadline:
            time.sleep(0.2)
        warm = median(lambda client=client: client.get("/"), 20) * 1000
        envboard.close()
        server = Server(workspace, state, {}, fake_uv=False)
        try:
            rate = throughput(server.url + "/", args.requests)
        finally:
            server.stop()
        print(f"{size:>8} {cold:>20.1f} {warm:>19.1f} {rate:>18.1f}")
    if "PYTHONDONTWRITEBYTECODE" in os.environ:
        print("warning: PYTHONDONTWRITEBYTECODE was set", file=sys.stderr)


if __name__ == "__main__":
    main()
