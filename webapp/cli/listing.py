"""`envboard list` and `envboard cache clear`: what the overview shows, on a terminal."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from .options import CONTEXT, Common, choice, command, common_options, group, settings_from

if TYPE_CHECKING:
    from ..core.pages.overview import Overview


@command("list", help="list projects, environments and plugins")
@common_options
@choice("--json", "as_json", is_flag=True, help="print one JSON object")
@choice("--no-cache", is_flag=True, help="probe every project again")
@choice(
    "--deadline",
    metavar="SECONDS",
    type=click.FloatRange(min=0, min_open=True),
    default=30.0,
    show_default=True,
    help="seconds each project's checks may take (a cold probe of a large Dagster environment takes "
    "several); a project still at work then is listed as still checking, with the command it waits "
    "for, and the others are not held up",
)
def list_projects(common: Common, as_json: bool, no_cache: bool, deadline: float) -> int:
    from ..core.app import Envboard
    from ..core.pages.overview import overview

    envboard = Envboard(settings_from(common))
    try:
        envboard.monitor.settle(refresh=no_cache, patience=deadline)
        data = overview(envboard)  # what / and /api/projects show
    finally:
        envboard.close()
    if as_json:
        print(json.dumps(data.to_json(), indent=2))
    else:
        print(render_table(data))
    return 1 if data.report["workspace_error"] else 0


def render_table(data: Overview) -> str:
    from ..core.environments.status import STATUS_IN_SYNC, STATUS_UNMANAGED

    report, states = data.report, data.states
    lines = [f"workspace: {report['workspace']} ({report['workspace_kind']})"]
    active = report["active_python"]
    lines.append(f"active python: {active['python'] or '-'} ({active['reason']})")
    if report["workspace_error"]:
        lines.append(f"error: {report['workspace_error']}")
    rows = [
        ("ID", "MODE", "STATUS", "PYTHON", "DAGSTER", "DG", "PACKAGES", "MODULES", "COMPONENTS", "ERRORS")
    ]
    notes = []
    for state in states:
        project = state.project
        plugins = state.plugins
        if plugins is not None and plugins.failure:
            notes.append(f"{project.id}: plugin probe failed: {plugins.failure}")
        rows.append(
            (
                project.id,
                project.mode.mode if project.mode else "-",
                state.status_name,
                state.python_version or "-",
                (plugins.dagster_version or "-") if plugins else "-",
                (plugins.dg_version or "-") if plugins else "-",
                str(plugins.package_count) if plugins and plugins.package_count is not None else "-",
                str(len(plugins.registry_modules)) if plugins else "-",
                str(len(plugins.components)) if plugins else "-",
                str(len(plugins.errors)) if plugins else "-",
            )
        )
        if project.error:
            location = project.error_file
            where = (
                f"{location}:{project.error_line}" if project.error_line else str(location or project.path)
            )
            notes.append(f"{project.id}: {where}: {project.error}")
        elif state.status and state.status.status not in (STATUS_IN_SYNC, STATUS_UNMANAGED):
            notes.append(f"{project.id}: {state.status.reason}")
        for warning in state.env.warnings if state.env else ():
            notes.append(f"{project.id}: warning: {warning}")
        for shortfall in plugins.shortfalls if plugins else ():
            notes.append(f"{project.id}: {shortfall}")
        for error in plugins.errors if plugins else ():
            notes.append(f"{project.id}: {error['module']}: {error['type']}: {error['message']}")
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        lines.append("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    if not states:
        lines.append("(no projects found)")
    lines.extend(notes)
    return "\n".join(lines)


@group("cache", help="manage the plugin cache")
def cache() -> None:
    pass


@cache.command("clear", context_settings=CONTEXT, help="remove every cached plugin list")
@common_options
def cache_clear(common: Common) -> int:
    from ..core.disk.cache import DependencyCache

    settings = settings_from(common, need_workspace=False)
    removed = DependencyCache(settings.resolved_cache_dir).clear()
    print(f"removed {removed} cached entries from {settings.resolved_cache_dir}")
    return 0


COMMANDS = (list_projects, cache)
