"""The cold plugin probe against `uv run dg list components --json`, in a heavy real project.

    PYTHONPATH=. python benchmarks/cold_probe.py [--project DIR] [--runs 5]   (from the repository root)

Needs the package index: without --project it builds, once, a create-dagster project with
several integration libraries (snowflake, aws, hightouch, databricks, dlt) in a temporary
folder and prints its path so later runs can pass --project. "Cold" means no envboard
cache entry (the probe runs in the project's environment); the OS file cache is warm for
both, as they are measured alternately. Run with PYTHONDONTWRITEBYTECODE unset.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from harness import median

from webapp.core.board import Board
from webapp.core.launcher import find_uv
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--project", type=Path)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if "PYTHONDONTWRITEBYTECODE" in os.environ:
        print("warning: PYTHONDONTWRITEBYTECODE is set; unset it for fair numbers", file=sys.stderr)
    scratch = Path(tempfile.mkdtemp(prefix="envboard-cold-probe-"))
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
    dg_seconds, cold_seconds = [], []
    for _ in range(args.runs):  # alternate, so both see the same machine
        dg_seconds.append(median(dg_run, 1))
        cold_seconds.append(median(envboard_cold, 1))
    reference = sorted(dg_seconds)[len(dg_seconds) // 2]
    cold = sorted(cold_seconds)[len(cold_seconds) // 2]
    print(f"{'what':45} {'median s':>10} {'vs dg':>10}")
    print(f"{'uv run dg list components --json':45} {reference:10.3f} {1:9.3f}x")
    print(f"{'envboard cold probe (no cache)':45} {cold:10.3f} {cold / reference:9.3f}x")


if __name__ == "__main__":
    main()
