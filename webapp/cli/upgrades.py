"""`envboard outdated`, `envboard upgrade ... --plan/--apply` and `envboard rollback JOB`."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

import click

from ..core.upgrades.target import FAMILY, Target
from .actions import _copy_new_output, _project_or_exit, _who, wants_colour, who_option
from .options import Common, choice, command, common_options, settings_from

if TYPE_CHECKING:
    from ..core.app import Envboard
    from ..core.pages import upgrades


@command("outdated", help="installed packages with a newer release on each project's own index")
@common_options
@click.argument("reference", required=False, metavar="[PROJECT]")
@choice("--json", "as_json", is_flag=True, help="print one JSON object (as /api/outdated)")
def outdated(common: Common, reference: str | None, as_json: bool) -> int:
    from ..core.app import Envboard
    from ..core.pages import upgrades

    envboard = Envboard(settings_from(common))
    try:
        board = envboard.board
        projects = [_project_or_exit(board, reference)] if reference else board.workspace.projects
        states = [board.state(project, wait=True) for project in projects]
        data = upgrades.outdated(envboard, states, wait=True)
    finally:
        envboard.close()
    if as_json:
        print(json.dumps(data.to_json(), indent=2))
        return 0
    for report in data.reports:
        print(f"{report.name}: {len(report.packages)} outdated")
        if report.index_error:
            print(f"  {report.index_error}")
        if report.reason:
            print(f"  {report.reason}")
        for package in report.packages:
            mark = " (direct)" if package.direct else ""
            print(f"  {package.name} {package.version} -> {package.latest}{mark}")
    return 0


@command(
    "upgrade",
    short_help="plan or apply an upgrade of a package across projects",
    help=f"Plan or apply an upgrade of PACKAGE[==VERSION] across projects; {FAMILY}[==VERSION] is "
    "dagster and every dagster-* package together. --plan writes nothing; --apply runs one job per "
    "project that can be upgraded (with the constraint edit the plan names), rolled back if any "
    "step fails.",
)
@common_options
@click.argument("wanted", metavar="PACKAGE[==VERSION]")
@choice("--project", "references", multiple=True, metavar="P", help="only these projects")
@choice("--plan", is_flag=True, help="show what uv would change; write nothing")
@choice("--apply", "apply", is_flag=True, help="upgrade each project that can be")
@choice("--json", "as_json", is_flag=True, help="print the plan as one JSON object")
@who_option
def upgrade(
    common: Common,
    wanted: str,
    references: tuple[str, ...],
    plan: bool,
    apply: bool,
    as_json: bool,
    who: str | None,
) -> int:
    if plan == apply:
        raise click.UsageError("pass one of --plan (show what would change) or --apply (upgrade)")
    from ..core.app import Envboard
    from ..core.pages import upgrades

    try:
        target = Target.parse(wanted)
    except ValueError as exc:
        print(f"envboard: {exc}", file=sys.stderr)
        return 2
    envboard = Envboard(settings_from(common))
    try:
        board = envboard.board
        ids = [_project_or_exit(board, reference).id for reference in references]
        states = board.states(wait=True)
        upgrade_plan = upgrades.upgrade_plan(envboard, states, target, ids or None, wait_for_index=True)
        if plan:
            print(json.dumps(upgrade_plan.to_json(), indent=2) if as_json else render_plan(upgrade_plan))
            return 0
        return _apply(envboard, upgrade_plan, _who(who))
    finally:
        envboard.close()


def render_plan(plan: upgrades.UpgradePlan) -> str:
    target = plan.plan.target
    lines = [f"upgrade {target.name} to {target.version or 'the newest that fits'}"]
    for project in plan.plan.projects:
        if project.blocked:
            lines.append(f"{project.name}: blocked: {project.blocked}")
        elif not project.changes:
            lines.append(f"{project.name}: nothing to change")
        else:
            lines.append(f"{project.name}:")
            lines += [
                f"  {c.name} {c.before or '(new)'} -> {c.after or '(removed)'}" for c in project.changes
            ]
    return "\n".join(lines)


def _apply(envboard: Envboard, plan: upgrades.UpgradePlan, who: str) -> int:
    """One job per project the plan can upgrade, each streamed; 1 when any was rolled back."""
    from ..core.jobs.errors import JobError
    from ..core.jobs.history import SUCCEEDED
    from ..core.pages import upgrades
    from ..core.upgrades.apply import UpgradeRequest, start_upgrade

    worst = 0
    for project_plan in plan.plan.projects:
        if not project_plan.approvable:
            reason = project_plan.blocked or "nothing to change"
            print(f"envboard: {project_plan.name}: skipped: {reason}", file=sys.stderr)
            continue
        state = plan.states[project_plan.project_id]
        request = UpgradeRequest(plan.plan.target, tuple(upgrades.installed(state)), project_plan.edit)
        try:
            record = start_upgrade(envboard.jobs, state.project, request, who)
        except JobError as exc:
            print(f"envboard: cannot upgrade {project_plan.name}: {exc}", file=sys.stderr)
            worst = 2
            continue
        final = _follow(envboard, record.id, f"upgrade of {project_plan.name}", who)
        if final.status != SUCCEEDED:
            worst = worst or 1
    return worst


def _follow(envboard: Envboard, job_id: str, what: str, who: str):
    jobs = envboard.jobs
    record = jobs.get(job_id)
    print(f"envboard: job {job_id}: {what}", file=sys.stderr)
    position, colour = 0, wants_colour()
    try:
        while True:
            finished = jobs.get(job_id).finished  # read before copying: the tail is never lost
            position = _copy_new_output(record.log_path, position, colour, finished)
            if finished:
                break
            jobs.wait(job_id, timeout=0.1)
    except KeyboardInterrupt:
        jobs.cancel(job_id, who)
        jobs.wait(job_id, timeout=60)
        raise
    final = jobs.get(job_id)
    print(
        f"envboard: job {job_id} {final.status}" + (f": {final.message}" if final.message else ""),
        file=sys.stderr,
    )
    return final


@command(
    "rollback",
    short_help="put a project back as it was before a job, and sync",
    help="put a project back as it was before a job, and sync. JOB: the id of a sync, upgrade or "
    "rollback job.",
)
@common_options
@click.argument("job", metavar="JOB")
@who_option
def rollback(common: Common, job: str, who: str | None) -> int:
    from ..core.app import Envboard
    from ..core.jobs.errors import JobError
    from ..core.jobs.history import SUCCEEDED
    from ..core.upgrades.apply import start_rollback

    envboard = Envboard(settings_from(common))
    name = _who(who)
    try:
        try:
            record = start_rollback(envboard.jobs, job, name)
        except JobError as exc:
            print(f"envboard: cannot roll back: {exc}", file=sys.stderr)
            return 2
        final = _follow(envboard, record.id, f"rollback to before job {job}", name)
        return 0 if final.status == SUCCEEDED else 1
    finally:
        envboard.close()


COMMANDS = (outdated, upgrade, rollback)
