"""envboard's plugin listing against `dg list components --json`, on a real Dagster project.

    python benchmarks/plugin_listing.py [--project DIR] [--runs 5]

Without --project it builds one with create-dagster (needs the package registry).
Run with PYTHONDONTWRITEBYTECODE unset: it doubles every Dagster import.
Prints medians and ratios against dg measured in the same run.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from harness import median, real_project_arguments

from webapp.core.environments.processes import find_uv
from webapp.core.live.board import Board
from webapp.core.settings import Settings


def build_project(base: Path) -> Path:
    uv = find_uv().path
    env = {**os.environ, "DAGSTER_DG_UPDATE_CHECK_ENABLED": "0"}
    subprocess.run(
        [
            uv,
            "tool",
            "run",
            "--from",
            "create-dagster==1.13.27",
            "create-dagster",
            "project",
            "--uv-sync",
            "demo",
        ],
        cwd=base,
        env=env,
        check=True,
        capture_output=True,
    )
    project = base / "demo"
    subprocess.run(
        [str(project / ".venv/bin/dg"), "scaffold", "component", "GreetingComponent"],
        cwd=project,
        env=env,
        check=True,
        capture_output=True,
    )
    text = (project / "pyproject.toml").read_text()
    (project / "pyproject.toml").write_text(
        text.replace("[tool.dg.project]\n", '[tool.dg.project]\npython_environment = "persistent_uv"\n')
    )
    subprocess.run([uv, "sync"], cwd=project, env=env, check=True, capture_output=True)
    return project


def main() -> None:
    args, scratch = real_project_arguments("envboard-bench-")
    project = args.project or build_project(scratch)
    state = scratch / "state"
    env = {**os.environ, "DAGSTER_DG_UPDATE_CHECK_ENABLED": "0"}
    dg = [str(project / ".venv/bin/dg"), "list", "components", "--json"]
    subprocess.run(dg, cwd=project, env=env, check=True, capture_output=True)  # warm the OS caches

    def dg_run():
        subprocess.run(dg, cwd=project, env=env, check=True, capture_output=True)

    def envboard(refresh: bool):
        board = Board(Settings(workspace=project, state_dir=state))
        try:
            (result,) = board.states(wait=True, refresh=refresh)
            assert result.plugins and not result.plugins.failure
            assert result.plugins.cached is (not refresh)
        finally:
            board.close()

    def envboard_cli():
        subprocess.run(
            [
                sys.executable,
                "-m",
                "webapp",
                "list",
                "--workspace",
                str(project),
                "--state-dir",
                str(state),
                "--json",
            ],
            check=True,
            capture_output=True,
        )

    rows = [
        ("dg list components --json", median(dg_run, args.runs)),
        ("envboard cold (probe, no cache)", median(lambda: envboard(True), args.runs)),
        ("envboard warm (cache hit, in process)", median(lambda: envboard(False), args.runs)),
        ("envboard list --json (warm, whole process)", median(envboard_cli, args.runs)),
    ]
    reference = rows[0][1]
    print(f"{'what':45} {'median s':>10} {'vs dg':>10}")
    for name, seconds in rows:
        print(f"{name:45} {seconds:10.4f} {seconds / reference:9.3f}x")


if __name__ == "__main__":
    main()
