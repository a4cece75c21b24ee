"""The definitions load check: a cold check against `dg check defs` by hand, and the overview's
p99 while 20 projects run their checks after a workspace-wide change.

    PYTHONPATH=. python benchmarks/load_checks.py [--part cold|overview|warm|both] [--runs 3]
                                                 [--projects 20] [--seconds 10] [--scratch DIR]

Needs the package index the first time: it builds real create-dagster 1.13 projects (two
assets, a check, a job, a schedule) under --scratch, reused by later runs.

cold: alternately, the project's own `dg check defs` by hand (its .venv's dg, quiet as
envboard runs it), envboard's cold check (no cache entry: `dg check defs` and
then `dg list defs --json` after it, at a lower priority, since the project loads), timed to its verdict
(when dg's check has said it loads: the board shows it then) and to its whole answer (the
counts too), and, to see where envboard's extra time goes, the listing alone and the check
and listing one after the other. Medians; ratios over `dg check defs`. Target: envboard's
cold check (its verdict) <= 1.0x. The CPU column of the verdict row is the whole check's.

overview: `envboard serve` over --projects such projects (real uv) is left to check them all;
then one edit to every project's definitions (a workspace-wide change) queues every check
again, and wrk (Debian package `wrk`) loads `/` while they run, as a viewer whose browser
sends back the cookie of its first page (the operator's); beside it, before the change
and in the same run, the same page idle, and ceiling (b) (benchmarks/ceiling.py) with the
page's size. p99 in ms; target: <= 50 ms while the checks run. The load average is printed:
on a shared machine numbers are only comparable at similar load.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from harness import Ceiling, Server, wrk_run

from tests.dagster_projects import SHOP_DEFINITIONS, create_dagster_project
from webapp.core.environments.processes import find_uv
from webapp.core.live.board import Board
from webapp.core.probe.loadcheck import DefinitionsCheck
from webapp.core.probe.loadplan import CheckPlan
from webapp.core.settings import Settings


def quiet_env(home: Path) -> dict[str, str]:
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV" and not k.startswith("UV_")}
    return {**env, "DAGSTER_DG_UPDATE_CHECK_ENABLED": "0", "DAGSTER_HOME": str(home), "NO_COLOR": "1"}


def build_project(folder: Path, name: str) -> Path:
    """A create-dagster project with a few definitions, persistent_uv; made once, reused."""
    project = folder / name
    if (project / ".venv" / "bin" / "dg").is_file():
        return project
    env = quiet_env(folder / ".home")
    return create_dagster_project(folder, name, find_uv().path, definitions=SHOP_DEFINITIONS, env=env)


def timed(function) -> tuple[float, float]:
    """Wall-clock seconds, and CPU seconds of the processes it started (their own and their children's)."""
    started, before = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    function()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return time.perf_counter() - started, cpu


def cold(scratch: Path, runs: int) -> None:
    project_dir = build_project(scratch / "cold", "shop")
    env = quiet_env(scratch / "home-by-hand")
    dg = str(project_dir / ".venv" / "bin" / "dg")
    board = Board(Settings(workspace=project_dir, state_dir=scratch / "state-cold"))
    checkers: dict[tuple, DefinitionsCheck] = {}  # one per plan, as the board keeps one
    try:
        project = board.workspace.projects[0]
        resolved = board.resolve(project)
        full = board.definitions.plan(project, resolved)

        verdicts: list[float] = []  # seconds to the verdict, per cold check of the whole plan

        def envboard(check: list[str] | None, listing: list[str] | None) -> None:
            """A cold check (an empty cache each time) running these commands; a listing
            passed as the check runs alone, as the one command. The checker is kept between
            runs, as the board keeps its own, and with it its Dagster homes."""
            plan = (tuple(check or ()), tuple(listing or ()))
            if plan not in checkers:
                checkers[plan] = DefinitionsCheck(board.resolver, board.cache)
                checkers[plan].plan = lambda *_: CheckPlan(full.why, check, listing)  # type: ignore[method-assign]
            fresh = checkers[plan]
            fresh.cache = type(board.cache)(scratch / f"cache-{time.monotonic_ns()}")
            started, told = time.perf_counter(), []
            verdict = fresh.check(project, resolved, on_verdict=lambda _: told.append(time.perf_counter()))
            assert verdict.loads, verdict.output
            if listing is not None:  # told when dg's check said it loads, unless the counts came first
                verdicts.append((told[0] if told else time.perf_counter()) - started)

        def by_hand(*args: str) -> None:
            subprocess.run([dg, *args], cwd=project_dir, env=env, check=True, capture_output=True)

        cases = {
            "dg check defs (by hand)": lambda: by_hand("check", "defs"),
            "envboard cold check: with counts": lambda: envboard(full.check, full.listing),
            "envboard: check alone": lambda: envboard(full.check, None),
            "envboard: listing alone": lambda: envboard(full.listing, None),
            "dg list defs --json (by hand)": lambda: by_hand("list", "defs", "--json"),
        }
        for case in cases.values():  # once each first: bytecode written, file cache warm
            case()
        verdicts.clear()
        samples: dict[str, list[tuple[float, float]]] = {name: [] for name in cases}
        load = os.getloadavg()[0]
        for _ in range(runs):  # alternately, so every case sees the same machine
            for name, case in cases.items():
                samples[name].append(timed(case))
        alone = zip(samples["envboard: check alone"], samples["envboard: listing alone"], strict=True)
        samples["envboard: check, then listing (sum)"] = [(a[0] + b[0], a[1] + b[1]) for a, b in alone]
        whole = samples["envboard cold check: with counts"]
        samples["envboard cold check: its verdict"] = [
            (v, w[1]) for v, w in zip(verdicts, whole, strict=True)
        ]
    finally:
        for checker in checkers.values():
            checker.homes.remove()
        board.close()
    wall = {name: statistics.median(s[0] for s in values) for name, values in samples.items()}
    cpu = {name: statistics.median(s[1] for s in values) for name, values in samples.items()}
    reference = "dg check defs (by hand)"
    print(f"cold check, {runs} runs, load average {load:.2f} -> {os.getloadavg()[0]:.2f}")
    print(f"{'what':40} {'median s':>9} {'vs dg check defs':>17} {'CPU s':>7} {'vs dg':>7}")
    for name in samples:
        print(
            f"{name:40} {wall[name]:9.2f} {wall[name] / wall[reference]:16.2f}x"
            f" {cpu[name]:7.2f} {cpu[name] / cpu[reference]:6.2f}x"
        )


def overview(scratch: Path, count: int, seconds: int) -> None:
    folder = scratch / f"overview{count}"
    names = [f"p{index:02d}" for index in range(count)]
    for name in names:
        build_project(folder, name)
    workspace = folder
    entries = "".join(f'\n[[workspace.projects]]\npath = "{name}"\n' for name in names)
    (workspace / "dg.toml").write_text('directory_type = "workspace"\n' + entries)
    env = {"DAGSTER_DG_UPDATE_CHECK_ENABLED": "0"}
    # a viewer as a browser is one: the cookie of its first page sent again with every request
    server = Server(workspace, scratch / f"state-overview{count}", env, fake_uv=False)
    viewer = {"Cookie": server.session_cookie}
    try:
        settle(server, count)
        size = len(urllib.request.urlopen(server.url + "/", timeout=60).read())
        ceiling = Ceiling(size)
        try:
            idle = wrk_run(server.url + "/", seconds, headers=viewer)
            bare = wrk_run(ceiling.url + "/", seconds)
            load = os.getloadavg()[0]
            for name in names:  # the workspace-wide change: every project's definitions edited
                path = folder / name / "src" / name / "defs" / "sales.py"
                path.write_text(path.read_text() + f"\n# edited {time.time()}\n")
            wait_checking(server)
            busy = wrk_run(server.url + "/", seconds, headers=viewer)
            still = sum(
                1 for p in server.projects()["projects"] if p["definitions_check"]["status"] == "checking"
            )
            bare_busy = wrk_run(ceiling.url + "/", seconds)
        finally:
            ceiling.stop()
    finally:  # the checks still queued end with the server
        server.stop()
    print(f"overview of {count} projects ({size} bytes), wrk {seconds} s, 16 clients")
    print(f"load average {load:.2f} at the change, {os.getloadavg()[0]:.2f} at the end")
    print(f"{'what':44} {'p99 ms':>8} {'req/s':>8} {'p99 vs ceiling':>15}")
    for name, result, ceiling_result in (
        ("idle, every check done", idle, bare),
        (f"while the checks run ({still} still checking at the end)", busy, bare_busy),
    ):
        ratio = result.p99_ms / ceiling_result.p99_ms
        print(f"{name:44} {result.p99_ms:8.1f} {result.rate:8.0f} {ratio:14.2f}x")
        print(f"{'  ceiling (b), same size':44} {ceiling_result.p99_ms:8.1f} {ceiling_result.rate:8.0f}")
    print(f"target: p99 <= 50 ms while the checks run: {'met' if busy.p99_ms <= 50 else 'NOT met'}")


def settle(server: Server, count: int, timeout: float = 3600) -> None:
    """Until every project's check has answered (loads) and nothing is pending."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        projects = server.projects()["projects"]
        if len(projects) == count and all(
            p["definitions_check"]["status"] == "loads"
            and not p["definitions_check"].get("counting")
            and not p["pending"]
            for p in projects
        ):
            return
        time.sleep(1)
    raise RuntimeError("the checks did not finish")


def wait_checking(server: Server, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(p["definitions_check"]["status"] == "checking" for p in server.projects()["projects"]):
            return
        time.sleep(0.2)
    raise RuntimeError("no check started after the change")


def warm(scratch: Path, count: int, runs: int) -> None:
    """The answer from the cache, per project, after the overview part has checked them all:
    what a page, `envboard check` or the monitor pays for a verdict nothing has changed since
    (stamps of the project's files and folders, then the stored JSON). Beside it, as a floor,
    reading and parsing the same stored entries with nothing checked."""
    folder = scratch / f"overview{count}"
    board = Board(Settings(workspace=folder, state_dir=scratch / f"state-overview{count}"))
    try:
        projects = list(board.workspace.projects)
        envs = {project.path: board.resolve(project) for project in projects}
        for project in projects:  # checked first where no verdict is stored (the overview's edit)
            if board.definitions.cached(project, envs[project.path]) is None:
                board.definitions.check(project, envs[project.path])
        entries = [board.cache._path(f"defs:{project.path}") for project in projects]  # the stored verdicts
        samples, floor = [], []
        for _ in range(max(runs, 5)):
            started = time.perf_counter()
            for project in projects:
                board.definitions.cached(project, envs[project.path])
            samples.append((time.perf_counter() - started) / len(projects))
            started = time.perf_counter()
            for entry in entries:
                json.loads(entry.read_bytes())
            floor.append((time.perf_counter() - started) / len(projects))
    finally:
        board.close()
    per_project, read_only = statistics.median(samples) * 1000, statistics.median(floor) * 1000
    print(f"warm answer from the cache, {len(projects)} projects, median of {len(samples)} passes")
    print(f"  per project: {per_project:.3f} ms ({per_project / 1.0:.2f}x the 1 ms target)")
    print(f"  floor, each stored verdict's file read and parsed, per project: {read_only:.3f} ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--part", choices=["cold", "overview", "warm", "both"], default="both")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--projects", type=int, default=20)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--scratch", type=Path)
    args = parser.parse_args()
    if "PYTHONDONTWRITEBYTECODE" in os.environ:
        print("warning: PYTHONDONTWRITEBYTECODE is set; unset it for fair numbers", file=sys.stderr)
    scratch = args.scratch or Path(tempfile.mkdtemp(prefix="envboard-load-checks-"))
    print(f"scratch: {scratch}")
    if args.part in ("cold", "both"):
        cold(scratch, args.runs)
    if args.part in ("overview", "both"):
        overview(scratch, args.projects, args.seconds)
    if args.part in ("warm", "overview", "both"):
        warm(scratch, args.projects, args.runs)


if __name__ == "__main__":
    main()
