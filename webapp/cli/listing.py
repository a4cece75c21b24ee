"""`envboard list` and `envboard cache clear`: what the overview shows, on a terminal."""

from __future__ import annotations

import argparse
import json

from ..core.app import Envboard
from ..core.disk.cache import DependencyCache
from ..core.environments.status import STATUS_IN_SYNC, STATUS_UNMANAGED
from ..core.pages.overview import Overview, overview
from .options import add_common, settings_from


def add_parsers(commands) -> None:
    listing = commands.add_parser("list", help="list projects, environments and plugins")
    add_common(listing)
    listing.add_argument("--json", action="store_true", help="print one JSON object")
    listing.add_argument("--no-cache", action="store_true", help="probe every project again")
    listing.set_defaults(handler=cmd_list)

    cache = commands.add_parser("cache", help="manage the plugin cache")
    cache_commands = cache.add_subparsers(dest="cache_command", metavar="COMMAND", required=True)
    clear = cache_commands.add_parser("clear", help="remove every cached plugin list")
    add_common(clear)
    clear.set_defaults(handler=cmd_cache_clear)


def cmd_list(args: argparse.Namespace) -> int:
    envboard = Envboard(settings_from(args))
    try:
        envboard.monitor.settle(refresh=args.no_cache)
        data = overview(envboard)  # what / and /api/projects show
    finally:
        envboard.close()
    if args.json:
        print(json.dumps(data.to_json(), indent=2))
    else:
        print(render_table(data))
    return 1 if data.report["workspace_error"] else 0


def render_table(data: Overview) -> str:
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


def cmd_cache_clear(args: argparse.Namespace) -> int:
    settings = settings_from(args, need_workspace=False)
    removed = DependencyCache(settings.resolved_cache_dir).clear()
    print(f"removed {removed} cached entries from {settings.resolved_cache_dir}")
    return 0
