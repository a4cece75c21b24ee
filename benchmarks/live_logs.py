"""Live logs under load, against `envboard serve` on loopback (run by hand, bounded in time).

    python benchmarks/live_logs.py [--viewers 50] [--seconds 30]

1. latency: a job's child prints "tick <time>" every 50 ms; a real browser (Playwright
   and Debian's chromium) records when each line appears on the job page.
2. load: while a job runs, N viewers poll its log as htmx does (byte offsets, every
   250 ms) and 4 more clients load the overview; p50/p99 latency, errors, server RSS.
3. a 100 MB log: the server's RSS while the job writes it and while a viewer follows it.

The job's child is benchmarks/fake_uv.py (given as --uv): it prints on demand, which is
what these measurements need; everything else is the real server.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from harness import Server, percentile, write_workspace


def measure_browser_latency(server: Server, seconds: float) -> list[float]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=shutil.which("chromium"),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_page()
        page.goto(server.url + "/projects/live")
        page.evaluate("""() => {
            window.tickArrivals = {};
            const observer = new MutationObserver(() => {
                const now = Date.now() / 1000;
                const log = document.querySelector('#log');
                if (!log) return;
                for (const match of log.textContent.matchAll(/tick (\\d+\\.\\d+)/g)) {
                    if (!(match[1] in window.tickArrivals)) window.tickArrivals[match[1]] = now;
                }
            });
            observer.observe(document.body, {childList: true, subtree: true, characterData: true});
        }""")
        page.click("#sync-button")
        time.sleep(seconds)
        arrivals = page.evaluate("() => window.tickArrivals")
        browser.close()
    return [arrival - float(printed) for printed, arrival in arrivals.items()]


def load(server: Server, job_id: str, viewers: int, seconds: float) -> dict:
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def timed_get(path: str) -> tuple[int, bytes]:
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(server.url + path, timeout=30) as response:
                status, body = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, body = error.code, b""
        except OSError as error:
            with lock:
                errors.append(str(error))
            return 0, b""
        with lock:
            latencies.append(time.perf_counter() - started)
            if status >= 400:
                errors.append(f"{path}: {status}")
        return status, body

    def viewer() -> None:
        offset = 0
        while time.monotonic() < stop:
            status, body = timed_get(f"/jobs/{job_id}/log?offset={offset}")
            text = body.decode(errors="replace")
            if "offset=" in text:
                offset = int(text.rsplit("offset=", 1)[1].split('"')[0].split("&")[0])
            time.sleep(0.25)

    def overview() -> None:
        while time.monotonic() < stop:
            timed_get("/")
            time.sleep(0.5)

    rss: list[float] = []

    def sampler() -> None:
        while time.monotonic() < stop:
            rss.append(server.rss_mb())
            time.sleep(0.5)

    threads = [threading.Thread(target=viewer) for _ in range(viewers)]
    threads += [threading.Thread(target=overview) for _ in range(4)]
    threads.append(threading.Thread(target=sampler))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"requests": len(latencies), "errors": errors, "latencies": latencies, "rss": rss}


def flood(server: Server) -> dict:
    job_id = server.start_sync()
    rss = []
    while True:
        job = json.loads(urllib.request.urlopen(f"{server.url}/api/jobs/{job_id}", timeout=10).read())
        rss.append(server.rss_mb())
        if job["status"] not in ("queued", "running"):
            break
        time.sleep(0.2)
    received = 0
    offset = 0
    while True:
        with urllib.request.urlopen(
            f"{server.url}/jobs/{job_id}/log?offset={offset}", timeout=30
        ) as response:
            body = response.read().decode(errors="replace")
            status = response.status
        if "offset=" in body:
            offset = int(body.rsplit("offset=", 1)[1].split('"')[0].split("&")[0])
        rss.append(server.rss_mb())
        if status == 286:
            break
    with urllib.request.urlopen(f"{server.url}/jobs/{job_id}/raw", timeout=120) as response:
        while chunk := response.read(1 << 20):
            received += len(chunk)
    rss.append(server.rss_mb())
    return {"job": job, "bytes": received, "rss": rss}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--viewers", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="envboard-live-"))
    workspace = write_workspace(base / "ws", uv_projects=("live",), active_projects=20)
    rows = []

    server = Server(
        workspace, base / "state", {"ENVBOARD_BENCH_OUTPUT": "ticks", "ENVBOARD_BENCH_SECONDS": "12"}
    )
    try:
        latency = measure_browser_latency(server, 10)
        rows.append(("line to browser, median s", statistics.median(latency), 0.5))
        rows.append(("line to browser, max s", max(latency), 0.5))
        time.sleep(3)
    finally:
        server.stop()

    seconds = str(args.seconds + 10)
    server = Server(
        workspace, base / "state2", {"ENVBOARD_BENCH_OUTPUT": "ticks", "ENVBOARD_BENCH_SECONDS": seconds}
    )
    try:
        idle_rss = server.rss_mb()
        job_id = server.start_sync()
        result = load(server, job_id, args.viewers, args.seconds)
        rows.append((f"{args.viewers} viewers + overview: requests", float(result["requests"]), None))
        rows.append(("  errors", float(len(result["errors"])), 0))
        rows.append(("  p50 latency s", statistics.median(result["latencies"]), None))
        rows.append(("  p99 latency s", percentile(result["latencies"], 0.99), 0.25))
        rows.append(("  server RSS idle MB", idle_rss, None))
        rows.append(("  server RSS max MB", max(result["rss"]), 200))
        server.wait_job(job_id)
    finally:
        server.stop()

    server = Server(
        workspace, base / "state3", {"ENVBOARD_BENCH_OUTPUT": "flood", "ENVBOARD_BENCH_MB": "100"}
    )
    try:
        before = server.rss_mb()
        result = flood(server)
        rows.append(("100 MB log: bytes streamed back", float(result["bytes"]), None))
        rows.append(("  server RSS before MB", before, None))
        rows.append(("  server RSS max MB", max(result["rss"]), 200))
    finally:
        server.stop()

    print(f"{'measure':42} {'value':>14} {'target':>8} {'vs target':>10}")
    for name, value, target in rows:
        ratio = f"{value / target:9.2f}x" if target else "-"
        print(f"{name:42} {value:14.3f} {target if target is not None else '-':>8} {ratio:>10}")


if __name__ == "__main__":
    main()
