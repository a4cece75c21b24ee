"""First contentful paint of the overview in chromium, for a new visitor, at `--size` projects.

    python benchmarks/first_paint.py [--size 2000] [--runs 5] [--scratch DIR]
                                     [--compare DIR]

A real `envboard serve` over a workspace of `--size` active-mode projects (left to finish
its probes), and Debian's chromium driven by Playwright (as the tests do). Each run is a
new browser context (nothing cached, no session: a new visitor) loading `/`; printed are
the medians of first contentful paint (the Performance API's `paint` entry), the first
byte, the last byte and DOMContentLoaded, and how many table rows the document held at
its first animation frame (rows parsed before the first layout are laid out before the
first paint). With `--compare DIR` (another checkout of envboard), a second server runs
that code over a copy of the same state folder, and the two take turns in each run.
The box's load average is printed: on a shared machine, figures are only comparable at
similar load. Bounded in time; loopback only.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
from pathlib import Path

from harness import Server, workspace_of

FIRST_FRAME = """
window.__firstFrame = null;
requestAnimationFrame(() => { window.__firstFrame = document.getElementsByTagName('tr').length; });
"""
TIMES = """() => {
  const navigation = performance.getEntriesByType('navigation')[0];
  const paint = performance.getEntriesByName('first-contentful-paint')[0];
  return {fcp: paint ? paint.startTime : -1, first_byte: navigation.responseStart,
          last_byte: navigation.responseEnd, dom_ready: navigation.domContentLoadedEventStart,
          rows_at_first_frame: window.__firstFrame,
          rows: document.querySelectorAll('tr.project-row').length};
}"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--scratch", type=Path)
    parser.add_argument("--compare", type=Path, help="another envboard checkout, measured in turns")
    args = parser.parse_args()
    base = args.scratch or Path(tempfile.mkdtemp(prefix="envboard-first-paint-"))
    workspace, state = workspace_of(base, args.size)
    servers = {"this": Server(workspace, state, {}, fake_uv=False, session=False)}
    try:
        servers["this"].wait_settled()
        if args.compare:
            other = base / f"state{args.size}-compared"
            shutil.rmtree(other, ignore_errors=True)
            shutil.copytree(state, other, symlinks=True)
            checkout = args.compare.resolve()
            env = {"PYTHONPATH": str(checkout)}
            servers["compared"] = Server(workspace, other, env, fake_uv=False, session=False, cwd=checkout)
            servers["compared"].wait_settled()
        from playwright.sync_api import sync_playwright

        found: dict[str, list[dict]] = {name: [] for name in servers}
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=shutil.which("chromium"), args=["--no-sandbox", "--disable-gpu"]
            )
            for _ in range(args.runs):
                for name, server in servers.items():
                    context = browser.new_context()
                    page = context.new_page()
                    page.add_init_script(FIRST_FRAME)
                    page.goto(server.url + "/", wait_until="load", timeout=120_000)
                    times = page.evaluate(TIMES)
                    assert times["rows"] == args.size, times
                    found[name].append(times)
                    context.close()
            browser.close()
    finally:
        for server in servers.values():
            server.stop()
    print(f"projects {args.size}, {args.runs} runs, load average {os.getloadavg()[0]:.2f}")
    for name, runs in found.items():
        medians = {key: statistics.median(run[key] for run in runs) for key in runs[0] if key != "rows"}
        print(f"{name:>9}: " + "  ".join(f"{key} {value:.0f}" for key, value in medians.items()))
        print(f"{'':>9}  first contentful paint of each run (ms): {[round(run['fcp']) for run in runs]}")


if __name__ == "__main__":
    main()
