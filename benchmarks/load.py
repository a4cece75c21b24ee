"""Load: 50 concurrent clients for 5 minutes against `envboard serve` on loopback, while syncs run.

    python benchmarks/load.py [--clients 50] [--seconds 300]

The clients mix overview loads, project pages and live-log polling (as htmx does: byte
offsets every 250 ms); a driver keeps syncs running on several projects the whole time.
Prints requests, errors (target 0), p50/p99 latency, and the server's RSS over time.
Bounded in time and count; loopback only. The syncs' child is benchmarks/fake_uv.py.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from harness import Server, percentile, write_workspace

LIVE_PROJECTS = 4


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=300)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="envboard-load-"))
    workspace = write_workspace(
        base / "ws", uv_projects=tuple(f"live{i}" for i in range(LIVE_PROJECTS)), active_projects=40
    )
    server = Server(
        workspace, base / "state", {"ENVBOARD_BENCH_OUTPUT": "ticks", "ENVBOARD_BENCH_SECONDS": "15"}
    )
    stop = time.monotonic() + args.seconds
    lock = threading.Lock()
    latencies: list[float] = []
    errors: list[str] = []
    current_jobs: dict[str, str] = {}
    rss: list[tuple[float, float]] = []
    started = time.monotonic()

    def get(path: str) -> bytes:
        begin = time.perf_counter()
        try:
            with urllib.request.urlopen(server.url + path, timeout=30) as response:
                body, status = response.read(), response.status
        except urllib.error.HTTPError as error:
            body, status = b"", error.code
        except OSError as error:
            with lock:
                errors.append(f"{path}: {error}")
            return b""
        with lock:
            latencies.append(time.perf_counter() - begin)
            if status >= 400:
                errors.append(f"{path}: {status}")
        return body

    def driver() -> None:
        while time.monotonic() < stop:
            for index in range(LIVE_PROJECTS):
                request = urllib.request.Request(
                    f"{server.url}/projects/live{index}/sync",
                    method="POST",
                    headers={"X-CSRF-Token": server.csrf, "Cookie": server.session_cookie, "HX-Request": "1"},
                )
                try:
                    with urllib.request.urlopen(request, timeout=30) as response:
                        text = response.read().decode()
                    job_id = text.split('id="job-', 1)[1].split('"', 1)[0]
                    with lock:
                        current_jobs[f"live{index}"] = job_id
                except (OSError, IndexError) as error:
                    with lock:
                        errors.append(f"sync: {error}")
            time.sleep(5)

    def client(kind: str) -> None:
        offset, job = 0, None
        while time.monotonic() < stop:
            if kind == "overview":
                get("/")
                time.sleep(random.uniform(0.5, 1.5))
            elif kind == "project":
                get(f"/projects/{random.choice(['live0', 'live1', 'p000', 'p007'])}")
                time.sleep(random.uniform(0.5, 1.5))
            else:
                with lock:
                    latest = current_jobs.get(f"live{hash(threading.current_thread().name) % LIVE_PROJECTS}")
                if latest and latest != job:
                    job, offset = latest, 0
                if job:
                    text = get(f"/jobs/{job}/log?offset={offset}").decode(errors="replace")
                    if "offset=" in text:
                        offset = int(text.rsplit("offset=", 1)[1].split('"')[0].split("&")[0])
                time.sleep(0.25)

    def sampler() -> None:
        while time.monotonic() < stop:
            rss.append((time.monotonic() - started, server.rss_mb()))
            time.sleep(5)

    kinds = ["overview"] * (args.clients * 2 // 10) + ["project"] * (args.clients * 2 // 10)
    kinds += ["log"] * (args.clients - len(kinds))
    threads = [threading.Thread(target=driver), threading.Thread(target=sampler)]
    threads += [threading.Thread(target=client, args=(kind,), name=f"c{i}") for i, kind in enumerate(kinds)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        server.stop()
    print(
        f"clients {args.clients} ({kinds.count('overview')} overview, "
        f"{kinds.count('project')} project pages, "
        f"{kinds.count('log')} log pollers) for {args.seconds:.0f} s, syncs running throughout"
    )
    print(f"{'measure':28} {'value':>10} {'target':>8}")
    print(f"{'requests':28} {len(latencies):>10}")
    print(f"{'errors':28} {len(errors):>10} {0:>8}")
    print(f"{'p50 latency ms':28} {statistics.median(latencies) * 1000:>10.1f}")
    print(f"{'p99 latency ms':28} {percentile(latencies, 0.99) * 1000:>10.1f} {250:>8}")
    print(f"{'max latency ms':28} {max(latencies) * 1000:>10.1f}")
    print(
        "server RSS over time (s: MB): "
        + ", ".join(f"{t:.0f}: {m:.0f}" for t, m in rss[:: max(1, len(rss) // 10)])
    )
    print(f"{'server RSS max MB':28} {max(m for _, m in rss):>10.1f} {200:>8}")
    for error in errors[:5]:
        print("error:", error)


if __name__ == "__main__":
    main()
