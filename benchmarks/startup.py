"""The first response after start, with a cold cache, against the bare page in the same run.

    python benchmarks/startup.py [--sizes 100 2000]

For each size: a fresh workspace of active-mode projects and an empty state folder (no
plugin cache, no history), `envboard serve` spawned, then: how long until it answers
/healthz, and how long the first GET / then takes (probes and status checks have only
started: the page must not wait for them). The bare page (benchmarks/bare_page.py, same
rows) is spawned and measured the same way. Then how long until every project is listed
(nothing pending) and the server's CPU meanwhile, against one run of the plugin probe in the
same interpreter, which is all the projects share: the work that cannot be skipped. Run
with PYTHONDONTWRITEBYTECODE unset.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from harness import BarePage, Server, cpu_seconds, write_workspace

from webapp.core.workspace.dg import ENTRY_POINT_GROUPS

PROBE = Path(__file__).resolve().parent.parent / "webapp" / "core" / "probe" / "script.py"


def first_get_ms(url: str) -> float:
    started = time.perf_counter()
    urllib.request.urlopen(url, timeout=60).read()
    return (time.perf_counter() - started) * 1000


def one_probe_s(folder: Path, runs: int = 3) -> float:
    """The plugin probe run once in this interpreter, directly (median of `runs`)."""
    request = folder / "request.json"
    request.write_text(json.dumps({"registry_modules": [], "entry_point_groups": list(ENTRY_POINT_GROUPS)}))
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, str(PROBE), str(folder / "answer.json"), str(request)], check=True)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 2000])
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="envboard-startup-"))
    print(
        f"{'projects':>8} {'start->listening s':>19} {'first GET / ms':>15} "
        f"{'bare listening s':>17} {'bare first ms':>14} {'ratio':>7}"
    )
    settled = []
    for size in args.sizes:
        workspace = write_workspace(base / f"ws{size}", active_projects=size)
        server = Server(workspace, base / f"state{size}", {}, fake_uv=False, session=False)
        try:
            listening = server.listening - server.started
            first = first_get_ms(server.url + "/")
            report = server.wait_settled()
            settled.append((size, time.perf_counter() - server.started, cpu_seconds(server.process.pid)))
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
    probe = one_probe_s(base)
    print(f"\n{'projects':>8} {'all listed s':>13} {'server CPU s':>13} {'one probe s':>12} {'ratio':>8}")
    for size, seconds, cpu in settled:
        print(f"{size:>8} {seconds:>13.1f} {cpu:>13.1f} {probe:>12.2f} {seconds / probe:>7.1f}x")


if __name__ == "__main__":
    main()
