"""The cold plugin probe against `uv run dg list components --json`, in a heavy real project.

    PYTHONPATH=. python benchmarks/cold_probe.py [--project DIR] [--runs 5]   (from the repository root)

Needs the package index: without --project it builds, once, a create-dagster project with
several integration libraries (snowflake, aws, hightouch, databricks, dlt) in a temporary
folder and prints its path so later runs can pass --project. "Cold" means no envboard
cache entry (the probe runs in the project's environment); the OS file cache is warm for
both, as they are measured alternately. Memory is the peak of all the processes each one
starts, counted as PSS so that pages forked children share are counted once. Run with
PYTHONDONTWRITEBYTECODE unset.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import threading
from pathlib import Path

from harness import median, real_project_arguments

from webapp.core.environments.processes import find_uv
from webapp.core.live.board import Board
from webapp.core.settings import Settings

DAGSTER = "1.13.27"
LIBRARIES = ["snowflake", "aws", "hightouch", "databricks", "dlt"]  # 0.29.27, for dagster 1.13.27


def build_project(base: Path) -> Path:
    uv = find_uv().path
    env = {**os.environ, "DAGSTER_DG_UPDATE_CHECK_ENABLED": "0", "UV_COMPILE_BYTECODE": "1"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    subprocess.run(
        [uv, "tool", "run", "--from", f"create-dagster=={DAGSTER}"]
        + ["create-dagster", "project", "--uv-sync", "heavy"],
        cwd=base,
        env=env,
        check=True,
        capture_output=True,
    )
    project = base / "heavy"
    text = (project / "pyproject.toml").read_text()
    (project / "pyproject.toml").write_text(
        text.replace("[tool.dg.project]\n", '[tool.dg.project]\npython_environment = "persistent_uv"\n')
    )
    libraries = [f"dagster-{name}==0.29.27" for name in LIBRARIES]
    subprocess.run([uv, "add", *libraries], cwd=project, env=env, check=True, capture_output=True)
    return project


class PeakMemory:
    """The peak, while inside the block, of the summed PSS of this process's descendants.

    PSS shares a page among the processes that map it, so forked children that still
    share their parent's pages are not counted twice.
    """

    def __init__(self, every: float = 0.1) -> None:  # a walk of /proc costs CPU the runs need
        self.every = every
        self.peak_mb = 0.0
        self._stop = threading.Event()

    def __enter__(self) -> PeakMemory:
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.wait(self.every):
            self.peak_mb = max(self.peak_mb, sum(map(pss_kb, descendants(os.getpid()))) / 1024)


def descendants(root: int) -> list[int]:
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = [], [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent]
        found.extend(children)
        frontier.extend(children)
    return found


def pss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def main() -> None:
    args, scratch = real_project_arguments("envboard-cold-probe-")
    project = args.project or build_project(scratch)
    print(f"project: {project}")
    uv = find_uv().path
    env = {**os.environ, "DAGSTER_DG_UPDATE_CHECK_ENABLED": "0"}
    env.pop("VIRTUAL_ENV", None)
    dg = [uv, "run", "dg", "list", "components", "--json"]
    listed = subprocess.run(dg, cwd=project, env=env, check=True, capture_output=True, text=True)
    state = scratch / "state"

    def dg_run():
        subprocess.run(dg, cwd=project, env=env, check=True, capture_output=True)

    def envboard_cold():
        board = Board(Settings(workspace=project, state_dir=state))
        try:
            (result,) = board.states(wait=True, refresh=True)
            assert result.plugins and not result.plugins.failure, result.plugins
        finally:
            board.close()
        return result.plugins

    plugins = envboard_cold()
    listed_count = listed.stdout.count('"key"')
    print(f"dg lists {listed_count} components; envboard {len(plugins.components)}")
    dg_seconds, cold_seconds, dg_mb, cold_mb = [], [], [], []
    for _ in range(args.runs):  # alternate, so both see the same machine
        with PeakMemory() as memory:
            dg_seconds.append(median(dg_run, 1))
        dg_mb.append(memory.peak_mb)
        with PeakMemory() as memory:
            cold_seconds.append(median(envboard_cold, 1))
        cold_mb.append(memory.peak_mb)
    reference, cold = statistics.median(dg_seconds), statistics.median(cold_seconds)
    reference_mb, peak_mb = statistics.median(dg_mb), statistics.median(cold_mb)
    print(f"{'what':34} {'median s':>9} {'vs dg':>7} {'peak MB (PSS)':>14} {'vs dg':>7}")
    print(
        f"{'uv run dg list components --json':34} {reference:9.3f} {1:6.2f}x {reference_mb:14.0f} {1:6.2f}x"
    )
    print(
        f"{'envboard cold probe (no cache)':34} {cold:9.3f} {cold / reference:6.2f}x"
        f" {peak_mb:14.0f} {peak_mb / reference_mb:6.2f}x"
    )


if __name__ == "__main__":
    main()
