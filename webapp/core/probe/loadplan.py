"""Which command decides whether a project loads, in its environment, and how it is invoked.

The command the project's own dg has (`dg check defs`; dagster-dg 0.26.x has the same
command and the same exit codes), with its definitions from `dg list defs --json`; an
environment without dg but with Dagster gets `dagster definitions validate` on the
project's definitions module, the load dg's check runs underneath. dagster-dg 0.26's listing
loses which definition is a job and which a sensor: there the command it runs underneath
(`dagster-components list definitions`) lists them. Deciding this reads only the
environment's bin folder and its dist-info names, so the pages can say why a check does (not)
apply without running anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..environments.processes import Invocation
from ..environments.resolver import ResolvedEnvironment, Resolver
from ..workspace.scan import Project
from ..workspace.which_dg import installed_dg


@dataclass(frozen=True)
class CheckPlan:
    """The commands that decide for one environment, or why there are none."""

    why: str
    check: list[str] | None = None
    listing: list[str] | None = None


def plan(project: Project, env: ResolvedEnvironment, resolver: Resolver) -> CheckPlan:
    """`dg check defs` + `dg list defs --json` with the environment's dg; else Dagster's own validate."""
    problem = resolver.unavailable(env)
    if problem:
        return CheckPlan(f"nothing can run in this environment: {problem}")
    if not env.exists:
        return CheckPlan(f"no environment at {env.venv or env.python} yet")
    scripts = Path(env.python).parent  # the environment's bin folder: where its dg and dagster are
    if (scripts / "dg").is_file():
        decides = f"the environment's own dg ({scripts / 'dg'}): `dg check defs`, as dg runs it, decides; "
        found = installed_dg(list(env.site_packages))
        if found and found.package == "dagster-dg" and (scripts / "dagster-components").is_file():
            # dagster-dg 0.26's `dg list defs --json` drops each record's kind (a job and a sensor
            # are both {"name"}); the command it runs underneath prints them with their classes
            module = project.definitions_module or f"{project.root_module}.definitions"
            listing = ["dagster-components", "list", "definitions", "--module-name", module]
            return CheckPlan(
                decides + "the definitions come from `dagster-components list definitions`, what "
                f"dagster-dg {found.version}'s `dg list defs` runs underneath (it lists no resources)",
                ["dg", "check", "defs"],
                listing,
            )
        return CheckPlan(
            decides + "the definitions come from `dg list defs --json`",
            ["dg", "check", "defs"],
            ["dg", "list", "defs", "--json"],
        )
    if (scripts / "dagster").is_file() and project.root_module:
        module = f"{project.root_module}.definitions"
        return CheckPlan(
            f"no dg in this environment: `dagster definitions validate -m {module}` loads the "
            "definitions as dg's check does underneath; definitions are not counted without dg",
            ["dagster", "definitions", "validate", "-m", module],
        )
    return CheckPlan("neither dg nor dagster is installed in this environment: nothing to load it with")


def check_invocation(resolver: Resolver, env: ResolvedEnvironment, args: list[str], home: Path) -> Invocation:
    """In the project's environment, without syncing it; dg's update check and Dagster's telemetry off,
    and a Dagster home of its own so nothing is written into the project's folder."""
    base = resolver.invocation(env, args, sync=False)
    quiet = {
        "DAGSTER_DG_UPDATE_CHECK_ENABLED": "0",
        "DAGSTER_DISABLE_TELEMETRY": "1",
        "DAGSTER_HOME": str(home),
        "NO_COLOR": "1",
    }
    return Invocation(base.argv, base.cwd, {**base.env, **quiet})
