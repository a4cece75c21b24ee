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
import statistics
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from harness import Server

from webapp.core.board import Settings
from webapp.web import create_app


def make_workspace(root: Path, count: int) -> Path:
    root.mkdir(parents=True)
    entries = []
    for index in range(count):
        folder = root / "projects" / f"p{index:03d}"
        folder.mkdir(parents=True)
        (folder / "pyproject.toml").write_text(
            f'[project]\nname = "p{index:03d}"\n\n[tool.dg]\ndirectory_type = "project"\n\n'
            f'[tool.dg.project]\nroot_module = "p{index:03d}"\n'
        )
        entries.append(f'[[workspace.projects]]\npath = "projects/p{index:03d}"\n')
    (root / "dg.toml").write_text('directory_type = "workspace"\n\n' + "\n".join(entries))
    return root


def median_ms(function, runs: int) -> float:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        function()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


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
        workspace = make_workspace(base / f"ws{size}", size)
        state = base / f"state{size}"
        # as `envboard serve` does: the monitor's first picture is taken before serving
        settings = Settings(workspace=workspace, state_dir=state)
        app = create_app({"ENVBOARD_SETTINGS": settings, "ENVBOARD_START_MONITOR": True})
        client = app.test_client()
        started = time.perf_counter()
        assert client.get("/").status_code == 200
        cold = (time.perf_counter() - started) * 1000
        board = app.extensions["envboard.board"]
        monitor = app.extensions["envboard.monitor"]
        deadline = time.monotonic() + 600
        while any(board.is_busy(p) for p in board.workspace.projects) and time.monotonic() < deadline:
            time.sleep(0.2)
        warm = median_ms(lambda client=client: client.get("/"), 20)
        monitor.stop()
        board.close()
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
