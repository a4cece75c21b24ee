"""The overview under 16 concurrent clients, against the bare-page ceiling measured in the same run.

    python benchmarks/overview.py [--sizes 100 500 2000] [--seconds 10] [--scratch DIR]

For each size: a workspace of active-mode projects, a real `envboard serve` (waitress,
16 threads, real uv) left to finish its probes, then wrk (Debian package `wrk`, 16
keep-alive connections) against `/`; then benchmarks/bare_page.py, a bare Flask+waitress
app rendering the same rows with the same thread count, measured the same way. The
ratio is envboard's req/s over the bare page's. `--scratch` keeps workspaces and plugin
caches between runs (the first run of a size probes every project). Run with
PYTHONDONTWRITEBYTECODE unset.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from harness import BarePage, Server, median, workspace_of, wrk


def one_client_ms(url: str) -> float:
    return median(lambda: urllib.request.urlopen(url, timeout=60).read(), 20) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 500, 2000])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--scratch", type=Path)
    args = parser.parse_args()
    base = args.scratch or Path(tempfile.mkdtemp(prefix="envboard-overview-"))
    print(
        f"{'projects':>8} {'envboard req/s':>15} {'bare req/s':>11} {'ratio':>7} "
        f"{'1 client ms':>12} {'bare ms':>8}"
    )
    for size in args.sizes:
        workspace, state = workspace_of(base, size)
        server = Server(workspace, state, {}, fake_uv=False, session=False)
        try:
            report = server.wait_settled()
            time.sleep(1)
            ours_ms = one_client_ms(server.url + "/")
            ours = wrk(server.url + "/", args.seconds)
        finally:
            server.stop()
        bare = BarePage(report, base / f"bare{size}")
        try:
            bare_ms = one_client_ms(bare.url + "/")
            ceiling = wrk(bare.url + "/", args.seconds)
        finally:
            bare.stop()
        print(
            f"{size:>8} {ours:>15.1f} {ceiling:>11.1f} {ours / ceiling:>6.2f}x "
            f"{ours_ms:>12.1f} {bare_ms:>8.1f}"
        )
    if "PYTHONDONTWRITEBYTECODE" in os.environ:
        print("warning: PYTHONDONTWRITEBYTECODE was set", file=sys.stderr)


if __name__ == "__main__":
    main()
