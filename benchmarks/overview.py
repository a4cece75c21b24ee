"""The overview against ceiling (b), the stack's physical limit, measured in the same run.

    python benchmarks/overview.py [--sizes 100 500 2000] [--clients 16 64] [--seconds 5] [--threads N]
                                  [--runs 3] [--scratch DIR] [--shared-cores]

For each size: a workspace of active-mode projects and a real `envboard serve` (waitress
with its default 8 threads, or `--threads N`; real uv, a users file with one operator,
anonymous viewing allowed) left to finish its probes. Beside it, benchmarks/ceiling.py:
waitress with 16 threads returning precomputed bytes of exactly the overview's size (one for
each viewer's page, anonymous and signed in), and an empty 204.

Once the workspace has settled, every server measured (envboard and the ceilings) runs on the
machine's first core and wrk on the others: sharing the cores, wrk's two busy threads and the
servers' took turns on them, and that scheduling, not either server, made the tail at 64
clients (p99 190-310 ms for envboard and up to 107 ms for the ceiling, where apart they were
47-57 ms and 28-38 ms). `--shared-cores` measures them sharing every core, as before.

Then wrk (Debian package `wrk`; keep-alive clients on loopback, bounded in time) against
`/` for an anonymous viewer and for the signed-in operator (each with its session cookie), and
against the same size from the ceiling, alternating, for each client count; then the
overview's "nothing changed" poll (`/fragments/rows?since=`, as htmx sends it) against
the ceiling's bare 204 (waitress closes the connection after it) and against the same
ceiling keeping it open as envboard does. wrk sends no Accept-Encoding, so both sides
move the raw bytes; the page's gzip size is printed beside. Each cell is the median of
`--runs` runs, the cells taking turns within each run.
Ratios are envboard's req/s over the ceiling's; p99 in ms. The box's load average is
printed with each size: on a shared machine, numbers are only comparable at similar load.
`--scratch` keeps workspaces and plugin caches between runs (the first run of a size
probes every project). Run with PYTHONDONTWRITEBYTECODE unset.
"""

from __future__ import annotations

import argparse
import gzip
import os
import re
import statistics
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

from harness import Ceiling, WrkResult, pin, split_cores, team_server, workspace_of, wrk_run


def sign_in(url: str, token: str) -> str:
    """The session cookie of the operator, signed in through the form as a browser does."""
    with urllib.request.urlopen(url + "/signin", timeout=30) as response:
        cookie = response.headers["Set-Cookie"].split(";")[0]
        form = response.read().decode()
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    body = urllib.parse.urlencode({"token": token, "csrf_token": csrf, "next": "/"}).encode()
    request = urllib.request.Request(url + "/signin", data=body, headers={"Cookie": cookie})

    class Keep(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    try:
        urllib.request.build_opener(Keep).open(request, timeout=30)
    except urllib.error.HTTPError as redirect:
        cookie = redirect.headers["Set-Cookie"].split(";")[0]
    else:
        raise RuntimeError("sign-in did not redirect")
    # the first page gives the session its CSRF token: a browser keeps the cookie that holds it
    with urllib.request.urlopen(
        urllib.request.Request(url + "/", headers={"Cookie": cookie}), timeout=60
    ) as page:
        return (page.headers["Set-Cookie"] or cookie).split(";")[0]


def page_bytes(url: str, headers: dict[str, str]) -> bytes:
    """The overview as this viewer gets it, raw (no Accept-Encoding, as wrk asks)."""
    with urllib.request.urlopen(urllib.request.Request(url + "/", headers=headers), timeout=60) as answer:
        return answer.read()


def medians(
    runs: int, cells: dict[str, tuple], seconds: int, clients: int, cpus: set[int] | None
) -> dict[str, WrkResult]:
    """Each cell (url, headers) measured `runs` times, the cells taking turns within each run (the
    load of a shared machine moves; taking turns spreads it over every cell), and the medians."""
    results: dict[str, list[WrkResult]] = {name: [] for name in cells}
    for _ in range(runs):
        for name, (url, headers) in cells.items():
            results[name].append(wrk_run(url, seconds, clients, headers, cpus))
    return {
        name: WrkResult(statistics.median(r.rate for r in rs), statistics.median(r.p99_ms for r in rs))
        for name, rs in results.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 500, 2000])
    parser.add_argument("--clients", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--scratch", type=Path)
    parser.add_argument("--threads", type=int, help="envboard's request threads (default: its own)")
    parser.add_argument(
        "--shared-cores",
        action="store_true",
        help="let wrk and the servers share every core (default: the servers on the first, wrk on the rest)",
    )
    args = parser.parse_args()
    cores = None if args.shared_cores else split_cores()
    if cores:
        print(f"servers on cores {sorted(cores[0])}, wrk on {sorted(cores[1])}")
    base = args.scratch or Path(tempfile.mkdtemp(prefix="envboard-overview-"))
    print(
        f"{'projects':>8} {'page KB':>8} {'gzip %':>6} {'viewer':>9} {'clients':>7} "
        f"{'envboard req/s (p99 ms)':>24} {'ceiling (b)':>18} {'ratio':>6}"
    )
    for size in args.sizes:
        workspace, state = workspace_of(base, size)
        server, token = team_server(workspace, state, base, threads=args.threads)
        ceilings: dict[str, Ceiling] = {}
        kept_open = None
        try:
            server.wait_settled()
            time.sleep(1)
            cookie = sign_in(server.url, token)
            with urllib.request.urlopen(server.url + "/", timeout=60) as answer:
                # an anonymous browser keeps the session (and CSRF token) its first visit got
                anonymous = answer.headers["Set-Cookie"].split(";")[0]
                raw = answer.read()
            with urllib.request.urlopen(
                urllib.request.Request(server.url + "/", headers={"Accept-Encoding": "gzip"}), timeout=60
            ) as answer:
                zipped = answer.read()
                if answer.headers.get("Content-Encoding") == "gzip":
                    assert gzip.decompress(zipped).count(b'class="project-row"') == size
            since = re.search(rb"/fragments/rows\?since=([0-9.]+)", raw).group(1).decode()
            viewers = {"anonymous": {"Cookie": anonymous}, "signed in": {"Cookie": cookie}}
            pages = {viewer: page_bytes(server.url, headers) for viewer, headers in viewers.items()}
            # each viewer's ceiling serves exactly its page's size (signed in, the page has the
            # operator's forms and name: some 8 % more)
            ceilings = {viewer: Ceiling(len(page)) for viewer, page in pages.items()}
            kept_open = Ceiling(len(raw), keep_alive=True)
            if cores:  # once settled: the probes and checks that filled the workspace had every core
                for process in (server.process, kept_open.process, *(c.process for c in ceilings.values())):
                    pin(process.pid, cores[0])
            load = os.getloadavg()[0]
            for clients in args.clients:
                cells = {}
                for viewer, headers in viewers.items():
                    cells[f"ceiling {viewer}"] = (ceilings[viewer].url + "/", None)
                    cells[viewer] = (server.url + "/", headers)
                found = medians(args.runs, cells, args.seconds, clients, cores and cores[1])
                for viewer in viewers:
                    ours, top = found[viewer], found[f"ceiling {viewer}"]
                    print(
                        f"{size:>8} {len(pages[viewer]) / 1000:>8.0f} {100 * len(zipped) / len(raw):>6.1f} "
                        f"{viewer:>9} {clients:>7} {ours.rate:>14.0f} ({ours.p99_ms:>6.1f}) "
                        f"{top.rate:>8.0f} ({top.p99_ms:>6.1f}) {ours.rate / top.rate:>5.2f}x",
                        flush=True,
                    )
            clients = max(args.clients)
            poll_headers = {"HX-Request": "true", "Cookie": anonymous}
            found = medians(
                args.runs,
                {
                    "poll": (f"{server.url}/fragments/rows?since={since}", poll_headers),
                    "bare": (ceilings["anonymous"].url + "/204", None),
                    "kept": (kept_open.url + "/204", None),
                },
                args.seconds,
                clients,
                cores and cores[1],
            )
            poll = found["poll"]
            for name, label in (("bare", "bare 204"), ("kept", "bare 204 kept open")):
                bare = found[name]
                ratio = poll.rate / bare.rate
                print(
                    f"{size:>8} {'204 poll vs ' + label:>34} {clients:>7} {poll.rate:>14.0f} "
                    f"({poll.p99_ms:>6.1f}) {bare.rate:>8.0f} ({bare.p99_ms:>6.1f}) {ratio:>5.2f}x"
                )
            print(f"{size:>8} load average at start {load:.2f}, at end {os.getloadavg()[0]:.2f}", flush=True)
        finally:
            server.stop()
            for bare_server in (*ceilings.values(), kept_open):
                if bare_server is not None:
                    bare_server.stop()
    if "PYTHONDONTWRITEBYTECODE" in os.environ:
        print("warning: PYTHONDONTWRITEBYTECODE was set", file=sys.stderr)


if __name__ == "__main__":
    main()
