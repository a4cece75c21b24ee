"""Which workspace a command means: `--workspace`, or found from the current folder as dg does.

Every mistake here ends the command at once with one line that names the folder and
says what to pass (exit 2), before anything is started.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ..core.workspace.config import ConfigError, read_dg_config
from ..core.workspace.dg import DG_TOML, PYPROJECT
from ..core.workspace.discovery import find_workspace_root
from ..core.workspace.scan import scan_workspace

HOW_ENVBOARD_LOOKS = (
    f"envboard looks for a {DG_TOML}, or a {PYPROJECT} with a [tool.dg] table, in that folder and "
    "the folders above it (as dg does), then for project folders below it"
)


class WorkspaceProblem(Exception):
    """The workspace a command was given, or would guess, cannot be used; the message says why."""


def locate(given: str | None, origin: str = "--workspace") -> Path:
    """The folder to scan: `given` checked, or the current folder when nothing was given."""
    if given is None:
        start = Path.cwd()
        shown = "the current folder"
    else:
        start = Path(given).expanduser()
        shown = f"{origin} {given}"
        if not start.exists():
            raise WorkspaceProblem(f"{shown} does not exist")
        if not start.is_dir():
            config_file = start.name in (DG_TOML, PYPROJECT)
            hint = (
                f"; pass the folder that holds it: {origin} {start.parent}"
                if config_file
                else "; pass a folder"
            )
            raise WorkspaceProblem(f"{shown} is a file, not a folder{hint}")
    if find_workspace_root(start) is not None:
        return start
    scan = scan_workspace(start)
    workspaces = [p.path for p in scan.projects if _is_workspace(p.path)]
    if workspaces:
        nearest = min(workspaces, key=lambda path: (len(path.parts), str(path)))
        suggestion = _as_typed(nearest)
        raise WorkspaceProblem(
            f"{shown} is not inside a dg workspace, but holds one below it: "
            f"did you mean --workspace {suggestion}?"
        )
    if not scan.projects:
        where = start.resolve()
        raise WorkspaceProblem(
            f"no dg projects in {where}: {HOW_ENVBOARD_LOOKS}. Pass --workspace DIR (or set "
            "ENVBOARD_WORKSPACE) with the folder of your dg workspace or project, or run envboard "
            "from inside it"
        )
    return start


def locate_or_exit(given: str | None, origin: str = "--workspace") -> Path:
    try:
        return locate(given, origin)
    except WorkspaceProblem as exc:
        print(f"envboard: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def _is_workspace(folder: Path) -> bool:
    try:
        config = read_dg_config(folder)
    except ConfigError:
        return False
    return config is not None and config.directory_type == "workspace"


def _as_typed(folder: Path) -> str:
    """The folder as the person would type it from here: relative when it is below."""
    try:
        return os.path.relpath(folder, Path.cwd()) if folder.is_relative_to(Path.cwd()) else str(folder)
    except ValueError:
        return str(folder)
