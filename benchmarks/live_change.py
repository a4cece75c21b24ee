"""A live change of one row at 2,000 projects, in chromium: what travels and what the page spends.

    python benchmarks/live_change.py [--size 2000] [--scratch DIR]

A real `envboard serve` over a workspace of `--size` active-mode projects (left to finish
its probes), and Debian's chromium driven by Playwright (as the tests do). The page is
loaded once (first contentful paint from the Performance API); then one project's
pyproject.toml is broken on disk, and the page's own poll brings the change. Printed:
the bytes of the poll answer that carried it, and the main thread's long tasks (the
Performance API's `longtask` entries, over 50 ms each) that overlap the second after
the answer carrying the change arrived, and all of them from the change until the row
shows it. The file is restored afterwards. Bounded in time; loopback only.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from harness import Server, workspace_of

OBSERVE = """
window.__longTasks = [];
new PerformanceObserver(list => {
  for (const entry of list.getEntries()) window.__longTasks.push([entry.startTime, entry.duration]);
}).observe({type: "longtask", buffered: true});
// when the poll that carried the change arrived and was swapped in
document.addEventListener("htmx:beforeSwap", e => {
  if (e.detail.xhr.responseText.includes(window.__watched)) window.__arrived = performance.now();
});
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=2000)
    parser.add_argument("--scratch", type=Path)
    args = parser.parse_args()
    base = args.scratch or Path(tempfile.mkdtemp(prefix="envboard-live-change-"))
    workspace, state = workspace_of(base, args.size)
    project = f"p{args.size // 2:03d}"
    config = workspace / project / "pyproject.toml"
    original = config.read_text()
    server = Server(workspace, state, {}, fake_uv=False, session=False)
    from playwright.sync_api import expect, sync_playwright

    try:
        server.wait_settled()
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=shutil.which("chromium"), args=["--no-sandbox", "--disable-gpu"]
            )
            page = browser.new_page()
            page.add_init_script(OBSERVE)
            polls: list = []
            page.on("response", lambda answer: "/fragments/rows?" in answer.url and polls.append(answer))
            page.goto(server.url + "/", timeout=120_000)
            expect(page.locator("tr.project-row")).to_have_count(args.size, timeout=120_000)
            paint = page.evaluate(
                "performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? -1"
            )
            page.wait_for_timeout(3000)  # the load's own tasks are over
            page.evaluate(f"window.__longTasks = []; window.__watched = 'id=\"project-{project}\"'")
            polls.clear()
            started = time.perf_counter()
            config.write_text("[project\nname = 'broken'\n")
            expect(page.locator(f"#project-{project} .config-error")).to_be_visible(timeout=60_000)
            seen = time.perf_counter() - started
            page.wait_for_timeout(500)  # the swap's settle
            arrived = page.evaluate("window.__arrived")
            every = page.evaluate("window.__longTasks")
            # the tasks that overlap the change's answer being handled (a second from its arrival)
            tasks = [d for start, d in every if start + d >= arrived and start <= arrived + 1000]
            carried = [len(answer.body()) for answer in polls if answer.status == 200]
            browser.close()
    finally:
        config.write_text(original)
        server.stop()
    print(f"projects {args.size}, load average {os.getloadavg()[0]:.2f}")
    print(f"first contentful paint ms      {paint:10.0f}")
    print(f"change shown after s           {seen:10.1f}   (polls every 2 s)")
    print(f"poll answers with the change   {carried} bytes")
    print(f"long tasks of the change ms    {[round(t) for t in tasks]} (sum {sum(tasks):.0f})")
    print(f"long tasks meanwhile ms        {[round(d) for _, d in every]}")


if __name__ == "__main__":
    main()
