"""The first response after start, with a cold cache, against the bare page in the same run.

    python benchmarks/startup.py [--sizes 100 2000]

For each size: a fresh workspace of active-mode projects and an empty state folder (no
plugin cache, no history), `envboard serve` spawned, then: how long until it answers
/healthz, and how long the first GET / then takes (probes and status checks have only
started: the page must not wait for them). The bare page (benchmarks/bare_page.py, same
rows) is spawned and measured the same way. Run with PYTHONDONTWRITEBYTECODE unset.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import urllib.request
from pathlib import Path

from harness import BarePage, Server, write_workspace


def first_get_ms(url: str) -> float:
    started = time.perf_counter()
    urllib.request.urlopen(url, timeout=60).read()
    return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 2000])
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="envboard-startup-"))
    print(
        f"{'projects':>8} {'start->listening s':>19} {'first GET / ms':>15} "
        f"{'bare listening s':>17} {'bare first ms':>14} {'ratio':>7}"
    )
    for size in args.sizes:
        workspace = write_workspace(base / f"ws{size}", active_projects=size)
        server = Server(workspace, base / f"state{size}", {}, fake_uv=False, session=False)
        try:
            listening = server.listening - server.started
            first = first_get_ms(server.url + "/")
            report = server.projects()
        finally:
            server.stop()
        bare = BarePage(report, base / f"bare{size}")
        try:
            bare_listening = bare.listening - bare.started
            bare_first = first_get_ms(bare.url + "/")
        finally:
            bare.stop()
        print(
            f"{size:>8} {listening:>19.2f} {first:>15.1f} {bare_listening:>17.2f} {bare_first:>14.1f} "
            f"{first / bare_first:>6.2f}x"
        )


if __name__ == "__main__":
    main()
