"""The server's memory against what it holds for its pages, measured in the same run.

    python benchmarks/memory.py [--sizes 100 500 2000] [--requests 200] [--scratch DIR]

For each size: a workspace of active-mode projects and a real `envboard serve` (as
overview.py starts it: a users file, anonymous viewing) left to finish its probes, as the
harness waits for them (`/api/projects` every 0.5 s). Its VmRSS and VmHWM
(/proc/PID/status) are read then, after `--requests` anonymous gzip GETs of `/` and
`--requests` of `/api/projects?q=p0`, and 5 s later. Against:

- a bare interpreter that has imported the same modules (webapp, Flask, waitress): the
  code and libraries alone;
- the overview page's own bytes (raw UTF-8): what the pages show.

Printed: MB, and (RSS - bare) / page bytes, the memory per byte of page beyond the code.
`--scratch` keeps the workspaces and plugin caches between runs (see overview.py).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from harness import team_server, workspace_of

BARE = """
import webapp.cli, webapp.web, webapp.serving, waitress
print(next(line for line in open("/proc/self/status") if line.startswith("VmRSS")).split()[1])
"""


def status(pid: int) -> tuple[float, float]:
    """VmRSS and VmHWM of a process, in MB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def bare_mb() -> float:
    """RSS of an interpreter that imported what `envboard serve` imports."""
    output = subprocess.run(
        [sys.executable, "-c", BARE],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
    ).stdout
    return int(output.split()[-1]) / 1024


def get(url: str, headers: dict[str, str] | None = None) -> bytes:
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=600) as answer:
        return answer.read()


def show(size: int, pid: int, page: bytes, bare: float, when: str) -> None:
    rss, hwm = status(pid)
    print(
        f"{size:>8} {len(page) / 1e6:>8.2f} {when:>28} {rss:>8.0f} {hwm:>8.0f} "
        f"{(rss - bare) * 2**20 / len(page):>15.0f}x",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 500, 2000])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--scratch", type=Path)
    args = parser.parse_args()
    base = args.scratch or Path(tempfile.mkdtemp(prefix="envboard-memory-"))
    bare = bare_mb()
    print(f"bare interpreter with webapp imported: {bare:.0f} MB")
    print(f"{'projects':>8} {'page MB':>8} {'when':>28} {'RSS MB':>8} {'HWM MB':>8} {'(RSS-bare)/page':>16}")
    for size in args.sizes:
        workspace, state = workspace_of(base, size)
        server, _ = team_server(workspace, state, base)
        try:
            load = os.getloadavg()[0]
            server.wait_settled()
            page = get(server.url + "/")
            pid = server.process.pid

            show(size, pid, page, bare, "probes done")
            for _ in range(args.requests):
                get(server.url + "/", {"Accept-Encoding": "gzip"})
            show(size, pid, page, bare, f"+{args.requests} GET / (gzip)")
            for _ in range(args.requests):
                get(server.url + "/api/projects?q=p0")
            show(size, pid, page, bare, f"+{args.requests} GET /api/projects?q=")
            time.sleep(5)
            show(size, pid, page, bare, "5 s later")
            print(f"{size:>8} load average at start {load:.2f}, at end {os.getloadavg()[0]:.2f}", flush=True)
        finally:
            server.stop()


if __name__ == "__main__":
    main()
