"""CPU of an idle server (no clients) over 30 s, against the bare page measured in the same run.

    python benchmarks/idle.py [--sizes 100 500 2000] [--seconds 30] [--scratch DIR]

For each size: `envboard serve` on a workspace of active-mode projects, left to finish
its probes and settle, then user+system CPU from /proc/<pid>/stat over the window with
no client at all; then benchmarks/bare_page.py serving the same rows, measured the same
way. Figures are percent of one core. `--scratch` keeps workspaces and plugin caches
between runs (as benchmarks/overview.py does). Where the server has /metrics, the last
full pass's duration is printed too: the monitor re-reads every project once a minute
even when no event came (a 30 s window may or may not hold one).
"""

from __future__ import annotations

import argparse
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from harness import BarePage, Server, workspace_of


def idle_percent(process, seconds: float) -> float:
    before = process.cpu_seconds()
    time.sleep(seconds)
    return (process.cpu_seconds() - before) / seconds * 100


def full_pass_seconds(url: str) -> str:
    try:
        text = urllib.request.urlopen(url + "/metrics", timeout=30).read().decode()
    except urllib.error.HTTPError:
        return "-"  # a version without /metrics
    for line in text.splitlines():
        if line.startswith("envboard_monitor_full_pass_seconds "):
            return f"{float(line.split()[1]):.3f}"
    return "-"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 500, 2000])
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--scratch", type=Path)
    args = parser.parse_args()
    base = args.scratch or Path(tempfile.mkdtemp(prefix="envboard-idle-"))
    print(f"{'projects':>8} {'envboard % core':>16} {'bare % core':>12} {'ratio':>8} {'full pass s':>12}")
    for size in args.sizes:
        workspace, state = workspace_of(base, size)
        server = Server(workspace, state, {}, fake_uv=False, session=False)
        try:
            report = server.wait_settled()
            time.sleep(5)  # the last probes' listeners and refreshes
            ours = idle_percent(server, args.seconds)
            full = full_pass_seconds(server.url)
        finally:
            server.stop()
        bare = BarePage(report, base / f"bare{size}")
        try:
            time.sleep(1)
            ceiling = idle_percent(bare, args.seconds)
        finally:
            bare.stop()
        ratio = f"{ours / ceiling:7.0f}x" if ceiling else "    n/a"
        print(f"{size:>8} {ours:>16.3f} {ceiling:>12.3f} {ratio:>8} {full:>12}")


if __name__ == "__main__":
    main()
