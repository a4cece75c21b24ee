"""The data of the Upgrades page and `envboard outdated` / `envboard upgrade`: one function each.

| resource | function | page / JSON |
|---|---|---|
| outdated | `outdated()` | `/upgrades`, `/api/outdated`, `envboard outdated --json` |
| plan | `upgrade_plan()` | `/upgrades/plan`, `/api/upgrades/plan`, `envboard upgrade --plan --json` |

Both read project states the caller passes (the monitor's snapshot for pages, a fresh
look for the command line), so each says the same thing wherever it is shown.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from packaging.version import InvalidVersion, Version

from ..app import Envboard
from ..live.state import ProjectState
from ..upgrades.outdated import OutdatedReport
from ..upgrades.plan import Plan, ProjectPlan, plan_project
from ..upgrades.target import Target, in_family

PLAN_WORKERS = 2  # uv resolves in parallel, but a plan must not take every core of a shared box
# A plan runs uv's resolutions in the request's thread, seconds per project and minutes for a
# large workspace: a few at once, so that plans asked over and over cannot hold every request
# thread of the server; the others are refused at once, to be asked again
PLANS_AT_ONCE = 2
PLAN_WAIT = 2.0  # seconds a plan waits for one of those before it is refused
_plan_slots = threading.BoundedSemaphore(PLANS_AT_ONCE)


class PlansBusy(Exception):
    """Every plan slot is taken; the message says to try again in a moment."""


@dataclass(frozen=True)
class Outdated:
    reports: list[OutdatedReport]

    @property
    def total(self) -> int:
        return sum(len(report.packages) for report in self.reports)

    @property
    def pending(self) -> bool:
        return any(report.pending for report in self.reports)

    def to_json(self) -> dict[str, Any]:
        return {"projects": [report.to_json() for report in self.reports]}


def outdated(envboard: Envboard, states: list[ProjectState], *, wait: bool = False) -> Outdated:
    """Each project's outdated packages: cached answers, the missing ones checked (in the background
    unless `wait`)."""
    checker = envboard.outdated
    return Outdated([checker.report(state.project, state.env, wait=wait) for state in states])


def installed(state: ProjectState) -> list[str]:
    """What the project has: the probe's packages, else the lock's pins."""
    if state.plugins is not None and not state.plugins.failure and state.plugins.packages:
        return [package["name"] for package in state.plugins.packages]
    return sorted(state.lock.locked) if state.lock is not None else []


def has_target(state: ProjectState, target: Target) -> bool:
    names = installed(state)
    return any(in_family(name) for name in names) if target.family else target.name in names


def newest(envboard: Envboard, states: list[ProjectState], target: Target, *, wait: bool) -> str | None:
    """The newest version of the target's lead package on the projects' indexes, if any says.

    For the Dagster family, the newest that every package moving in lockstep with dagster has,
    in every project: Dagster publishes releases of `dagster` that `dagster-dg-cli` skips
    (1.13.28 and 1.13.29 have none), and a plan to one of those is blocked for each project
    that has dg."""
    found = []
    for state, report in zip(states, outdated(envboard, states, wait=wait).reports, strict=True):
        latest = _lockstep_newest(state, report) if target.family else report.latest.get(target.lead)
        if latest:
            found.append(latest)
    if not found:
        return None
    try:
        return (min if target.family else max)(found, key=Version)
    except InvalidVersion:
        return found[0]


def _lockstep_newest(state: ProjectState, report: OutdatedReport) -> str | None:
    """The newest release all of the project's family packages at dagster's version have (they
    move together; the integration libraries, at 0.x, move to whatever fits)."""
    plugins = state.plugins
    if plugins is None or plugins.failure:
        return report.latest.get("dagster")
    versions = {package["name"]: package["version"] for package in plugins.packages}
    core = versions.get("dagster")
    newest = [report.newest(name, core)[0] for name, v in versions.items() if in_family(name) and v == core]
    known = [version for version in newest if version is not None]
    try:
        return min(known, key=Version) if core and len(known) == len(newest) else None
    except InvalidVersion:
        return None


@dataclass(frozen=True)
class UpgradePlan:
    plan: Plan
    states: dict[str, ProjectState]  # the planned projects, by id

    def get(self, project_id: str) -> ProjectPlan | None:
        return next((p for p in self.plan.projects if p.project_id == project_id), None)

    def to_json(self) -> dict[str, Any]:
        return self.plan.to_json()


def upgrade_plan(
    envboard: Envboard,
    states: list[ProjectState],
    target: Target,
    project_ids: list[str] | None = None,
    *,
    wait_for_index: bool = False,
) -> UpgradePlan:
    """What uv would do in each chosen project (default: all that have the package); writes nothing.

    Without a version the target is the newest the projects' indexes know (so a pin that keeps
    it out is named), else the newest that fits. PlansBusy when PLANS_AT_ONCE are being made.
    """
    if not _plan_slots.acquire(timeout=PLAN_WAIT):
        raise PlansBusy(f"{PLANS_AT_ONCE} upgrade plans are being made right now; try again in a moment")
    try:
        return _plan(envboard, states, target, project_ids, wait_for_index)
    finally:
        _plan_slots.release()


def _plan(
    envboard: Envboard,
    states: list[ProjectState],
    target: Target,
    project_ids: list[str] | None,
    wait_for_index: bool,
) -> UpgradePlan:
    if project_ids:
        chosen = [s for s in states if s.id in project_ids]
    else:
        chosen = [s for s in states if has_target(s, target)]
    if target.version is None:
        version = newest(envboard, chosen, target, wait=wait_for_index)
        target = Target(target.name, version)
    resolver = envboard.board.resolver

    def one(state: ProjectState) -> ProjectPlan:
        return plan_project(resolver, state.project, state.env, target, installed(state))

    with ThreadPoolExecutor(max_workers=PLAN_WORKERS, thread_name_prefix="plan") as pool:
        plans = list(pool.map(one, chosen))
    return UpgradePlan(Plan(target, tuple(plans)), {s.id: s for s in chosen})
