"""`envboard versions` and `envboard packages`: the Versions and Packages pages, on a terminal."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

import click

from .actions import _project_or_exit
from .options import Common, choice, command, common_options, settings_from

if TYPE_CHECKING:
    from ..core.pages import inventory


@command("versions", help="packages installed in two or more projects, and Python, by project")
@common_options
@choice("--json", "as_json", is_flag=True, help="print one JSON object (as /api/versions)")
@choice(
    "--all", "every", is_flag=True, help="every shared package (by default the Dagster family and Python)"
)
@choice("--dagster", is_flag=True, hidden=True)  # the default now
@choice("--filter", "text", default="", metavar="TEXT", help="only packages whose name contains TEXT")
def versions_command(common: Common, as_json: bool, every: bool, dagster: bool, text: str) -> int:
    from ..core.app import Envboard
    from ..core.pages import inventory
    from ..core.pages.versions import versions

    envboard = Envboard(settings_from(common))
    try:
        envboard.monitor.settle()
        scope = inventory.SCOPE_ALL if every else inventory.SCOPE_DAGSTER
        matrix = versions(envboard, inventory.VersionFilters(q=text, scope=scope), ask_index=False)
    finally:
        envboard.close()
    print(json.dumps(matrix.to_json(), indent=2) if as_json else render_versions(matrix))
    return 1 if envboard.board.workspace.error else 0  # as `envboard list`


def render_versions(matrix: inventory.Versions) -> str:
    names = [state.project.name for state in matrix.states]
    rows = [("PACKAGE", *names, "")]
    for row in matrix.rows:
        cells = [_cell(matrix, row, state.id) for state in matrix.states]
        rows.append((row.name, *cells, "skew" if row.skew else ""))
    lines = _columns(rows)
    if not matrix.rows:
        lines.append("(no package is installed in two or more projects)")
    for project_id in matrix.waiting:
        lines.append(f"{project_id}: packages not known (config error, no environment, or probe failed)")
    return "\n".join(lines)


def _cell(matrix: inventory.Versions, row: inventory.VersionRow, project_id: str) -> str:
    """The installed version, and `->NEWER` where the project's index has a newer one (cached)."""
    newer = matrix.newer_than(row, project_id)
    return (row.versions[project_id] or "-") + (f"->{newer}" if newer else "")


@command(
    "packages",
    short_help="a project's installed packages against its uv.lock",
    help="a project's installed packages against its uv.lock. PROJECT: an id, name or path.",
)
@common_options
@click.argument("reference", metavar="PROJECT")
@choice("--json", "as_json", is_flag=True, help="print one JSON object (as /api/projects/<id>/packages)")
@choice("--filter", "text", default="", metavar="TEXT", help="only packages whose name contains TEXT")
def packages_command(common: Common, reference: str, as_json: bool, text: str) -> int:
    from ..core.app import Envboard
    from ..core.pages.project import packages

    envboard = Envboard(settings_from(common))
    try:
        project = _project_or_exit(envboard.board, reference)
        if project.error:
            print(
                f"envboard: {project.id}: the project's config has an error: {project.error}", file=sys.stderr
            )
            return 2
        envboard.monitor.settle()
        listing = packages(envboard, project.id, text, wait=True)  # the newest releases too
    finally:
        envboard.close()
    if listing is None:  # gone from the workspace while it was looked at
        print(f"envboard: {project.id} is no longer in the workspace", file=sys.stderr)
        return 2
    print(json.dumps(listing.to_json(), indent=2) if as_json else render_packages(listing))
    return 0


def render_packages(listing: inventory.Packages) -> str:
    lock = listing.state.lock
    compared = lock is not None and lock.present
    rows = [("PACKAGE", "INSTALLED", "LOCKED", "DIRECT", "LATEST", "")]
    for row in listing.rows:
        note = "not installed" if row.version is None else "not as locked" if compared and row.differs else ""
        latest = listing.latest(row)[0] or "?"
        direct = "yes" if row.direct else "no"
        rows.append((row.name, row.version or "-", row.locked or "-", direct, latest, note))
    lines = _columns(rows)
    plugins = listing.state.plugins
    if plugins is not None and plugins.failure:
        lines.append(f"the probe failed: {plugins.failure}")
    elif not listing.known:
        lines.append("(no environment: sync the project first)")
    if lock is not None:
        lines.append(f"uv.lock: {lock.status.replace('_', ' ')} ({lock.reason})")
    unknown = {why for row in listing.rows if (why := listing.latest(row)[1]) and row.version}
    lines += [f"latest ?: {why}" for why in sorted(unknown)]
    return "\n".join(lines)


def _columns(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows
    ]


COMMANDS = (versions_command, packages_command)
