"""Real Dagster projects from the package index, for the tests marked `dagster` and the benchmarks.

One way to make a `create-dagster` project (Dagster 1.13, dagster-dg-cli 1.13, its dev
dependencies, synced by uv), so that every test and benchmark that needs one builds it alike.
Each uv and dg here runs with `registry_env()`: the user's uv cache and index, not the offline
settings that conftest gives the other tests.
"""

from __future__ import annotations

import os
import subprocess
import textwrap
from pathlib import Path

import tomlkit

CREATE_DAGSTER = "create-dagster==1.13.27"  # its dagster pin has a matching dagster-dg-cli


# a shop's definitions: two assets, an asset check, a job and a schedule (what dg counts)
SHOP_DEFINITIONS = """
import dagster as dg


@dg.asset
def orders():
    return 1


@dg.asset(deps=[orders])
def revenue():
    return 2


@dg.asset_check(asset=orders)
def orders_not_empty():
    return dg.AssetCheckResult(passed=True)


daily = dg.define_asset_job("daily", selection=[orders, revenue])
every_morning = dg.ScheduleDefinition(job=daily, cron_schedule="0 6 * * *")
"""


def registry_env() -> dict[str, str]:
    """The environment for uv and dg against the real registry: no uv setting of the tests', no
    active virtual environment, and no update check of dg's.

    Nor PYTHONDONTWRITEBYTECODE (set on this project's development boxes): dg writes Dagster's
    bytecode into the project's environment, as it does for its users, where envboard's own
    runs of dg find it. Without it every dg the tests ran compiled Dagster again (`dg check
    defs` 5.4 s of CPU instead of 2.1 s). The environments are in the temporary folder. Nor
    the tests' bytecode folder for their own Pythons (conftest's `subprocess_bytecode`)."""
    skipped = ("VIRTUAL_ENV", "PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")
    env = {k: v for k, v in os.environ.items() if not k.startswith("UV_") and k not in skipped}
    env["DAGSTER_DG_UPDATE_CHECK_ENABLED"] = "0"
    return env


def create_dagster_project(
    base: Path,
    name: str,
    uv_bin: str,
    *,
    definitions: str | None = None,
    project_settings: dict[str, str] | None = None,
    env: dict[str, str] | None = None,
) -> Path:
    """`create-dagster project --uv-sync NAME` in `base`, as a person starts a project.

    `definitions`, when given, is written to the project's `defs/sales.py`; `project_settings`
    go into its `[tool.dg.project]` table (python_environment = "persistent_uv" unless told).
    """
    base.mkdir(parents=True, exist_ok=True)
    env = {**registry_env(), "DAGSTER_HOME": str(base / "home"), **(env or {})}
    subprocess.run(
        [uv_bin, "tool", "run", "--from", CREATE_DAGSTER, "create-dagster", "project", "--uv-sync", name],
        cwd=base,
        env=env,
        check=True,
        capture_output=True,
        timeout=900,
    )
    project = base / name
    if definitions is not None:
        (project / "src" / name / "defs" / "sales.py").write_text(textwrap.dedent(definitions))
    pyproject = project / "pyproject.toml"
    document = tomlkit.parse(pyproject.read_text())
    settings = {"python_environment": "persistent_uv"} if project_settings is None else project_settings
    for key, value in settings.items():
        document["tool"]["dg"]["project"][key] = value
    pyproject.write_text(tomlkit.dumps(document))
    return project
