"""`envboard outdated`, `envboard upgrade ... --plan/--apply` and `envboard rollback JOB`."""

from __future__ import annotations

import argparse
import json
import sys

from ..core.app import Envboard
from ..core.jobs.errors import JobError
from ..core.jobs.history import SUCCEEDED
from ..core.pages import upgrades
from ..core.upgrades.apply import UpgradeRequest, start_rollback, start_upgrade
from ..core.upgrades.plan import FAMILY, Target
from .actions import _add_who, _copy_new_output, _project_or_exit, _who, wants_colour
from .options import add_common, settings_from


def add_parsers(commands) -> None:
    outdated = commands.add_parser(
        "outdated", help="installed packages with a newer release on each project's own index"
    )
    add_common(outdated)
    outdated.add_argument("project", nargs="?", metavar="PROJECT", help="project id, name or path")
    outdated.add_argument("--json", action="store_true", help="print one JSON object (as /api/outdated)")
    outdated.set_defaults(handler=cmd_outdated)

    upgrade = commands.add_parser(
        "upgrade",
        help="plan or apply an upgrade of a package across projects",
        description=f"PACKAGE[==VERSION], or {FAMILY}[==VERSION] for dagster and every dagster-* "
        "package together. --plan writes nothing; --apply runs one job per project that can be "
        "upgraded (with the constraint edit the plan names), rolled back if any step fails.",
    )
    add_common(upgrade)
    upgrade.add_argument("target", metavar="PACKAGE[==VERSION]")
    upgrade.add_argument("--project", action="append", default=[], metavar="P", help="only these projects")
    what = upgrade.add_mutually_exclusive_group(required=True)
    what.add_argument("--plan", action="store_true", help="show what uv would change; write nothing")
    what.add_argument("--apply", action="store_true", help="upgrade each project that can be")
    upgrade.add_argument("--json", action="store_true", help="print the plan as one JSON object")
    _add_who(upgrade)
    upgrade.set_defaults(handler=cmd_upgrade)

    rollback = commands.add_parser("rollback", help="put a project back as it was before a job, and sync")
    add_common(rollback)
    rollback.add_argument("job", metavar="JOB", help="the id of a sync, upgrade or rollback job")
    _add_who(rollback)
    rollback.set_defaults(handler=cmd_rollback)


def cmd_outdated(args: argparse.Namespace) -> int:
    envboard = Envboard(settings_from(args))
    try:
        board = envboard.board
        projects = [_project_or_exit(board, args.project)] if args.project else board.workspace.projects
        states = [board.state(project, wait=True) for project in projects]
        data = upgrades.outdated(envboard, states, wait=True)
    finally:
        envboard.close()
    if args.json:
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


def cmd_upgrade(args: argparse.Namespace) -> int:
    try:
        target = Target.parse(args.target)
    except ValueError as exc:
        print(f"envboard: {exc}", file=sys.stderr)
        return 2
    envboard = Envboard(settings_from(args))
    try:
        board = envboard.board
        ids = [_project_or_exit(board, reference).id for reference in args.project]
        states = board.states(wait=True)
        plan = upgrades.upgrade_plan(envboard, states, target, ids or None, wait_for_index=True)
        if args.plan:
            print(json.dumps(plan.to_json(), indent=2) if args.json else render_plan(plan))
            return 0
        return _apply(envboard, plan, _who(args))
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


def cmd_rollback(args: argparse.Namespace) -> int:
    envboard = Envboard(settings_from(args))
    who = _who(args)
    try:
        try:
            record = start_rollback(envboard.jobs, args.job, who)
        except JobError as exc:
            print(f"envboard: cannot roll back: {exc}", file=sys.stderr)
            return 2
        final = _follow(envboard, record.id, f"rollback to before job {args.job}", who)
        return 0 if final.status == SUCCEEDED else 1
    finally:
        envboard.close()
