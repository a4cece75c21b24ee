"""Finding the workspace and its projects, the way dg does.

A scan never fails because of one project: each project carries its own error.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import (
    ConfigError,
    DgConfig,
    ModeSetting,
    key_line,
    project_table,
    read_dg_config,
    read_toml,
)
from .dg import ENTRY_POINT_GROUPS, PYPROJECT
from .discovery import find_project_folders, find_workspace_root, outward_config
from .reading import Reading
from .reading import read as read_as_dg
from .which_dg import DgFound, find_dg, workspace_dg


@dataclass
class Project:
    """One project of the workspace, as found by the scan."""

    id: str
    name: str
    path: Path  # absolute
    rel_path: str  # as listed in the workspace, or relative to the root
    config_file: Path | None = None
    mode: ModeSetting | None = None
    reading: Reading | None = None  # the environment as the project's own dg sees it (reading.py)
    root_module: str | None = None
    location_name: str = (
        ""  # its code location's name, as dg names it (code_location_name, else the folder's)
    )
    registry_modules: list[str] = field(default_factory=list)
    declares_registry_entry_point: bool = False
    error: str | None = None
    error_file: Path | None = None
    error_line: int | None = None

    def fail(self, error: ConfigError) -> None:
        self.error = f"{error.message}"
        self.error_file = error.path
        self.error_line = error.line


@dataclass
class Workspace:
    root: Path
    kind: str  # "workspace", "project" or "discovered"
    config_file: Path | None
    projects: list[Project]
    error: str | None = None

    def get(self, project_id: str) -> Project | None:
        return next((p for p in self.projects if p.id == project_id), None)

    def find(self, reference: str) -> Project | None:
        """A project by id, name or path (for the command line)."""
        for project in self.projects:
            if reference in (project.id, project.name, project.rel_path):
                return project
        candidate = Path(reference).expanduser()
        if candidate.exists():
            resolved = candidate.resolve()
            return next((p for p in self.projects if p.path.resolve() == resolved), None)
        return None


def scan_workspace(start: Path, active_venv: Path | None = None) -> Workspace:
    """Scan from `start`: a dg workspace, a lone project, or projects found below.

    `active_venv` (the environment envboard runs in) is where the workspace's dg is looked
    for first: it reads the config of projects that have no dg of their own yet.
    """
    start = start.resolve()
    root = find_workspace_root(start)
    if root is None:
        return _discover(start, workspace_dg(active_venv, start))
    dg = workspace_dg(active_venv, root)
    escape = outward_config(root, root)
    if escape is not None:
        project = _project_at(root, ".", root.name, boundary=root, dg=dg)
        return Workspace(root, "unreadable", escape.path, [project])
    try:
        config = read_dg_config(root)
    except ConfigError as exc:
        # workspace or project, it cannot be told: list the root with its error, like any project
        project = _project_at(root, ".", root.name, boundary=root, dg=dg)
        return Workspace(root, "unreadable", exc.path, [project])
    assert config is not None
    kind = config.directory_type
    if kind == "workspace":
        return _scan_listed_projects(root, config, dg)
    project = _project_at(root, ".", root.name, boundary=root, dg=dg)
    return Workspace(root, "project", config.path, [project])


def _scan_listed_projects(root: Path, config: DgConfig, dg: DgFound | None) -> Workspace:
    workspace_table = config.section.get("workspace", {})
    entries = workspace_table.get("projects", []) if isinstance(workspace_table, dict) else []
    projects: list[Project] = []
    seen: dict[Path, str] = {}
    ids: set[str] = set()
    line = key_line(config.file.text, "projects")
    if not isinstance(entries, list):
        error = f"{config.prefix}workspace.projects must be a list of {{ path = ... }} tables"
        return Workspace(root, "workspace", config.path, [], error=f"{config.path}:{line}: {error}")
    for index, entry in enumerate(entries):
        rel = entry.get("path") if isinstance(entry, dict) else None
        if not isinstance(rel, str) or not rel:
            placeholder = Project(
                id=_unique_id(f"entry-{index + 1}", ids),
                name=f"entry {index + 1}",
                path=root,
                rel_path="",
                error=f"workspace.projects entry {index + 1} has no path",
                error_file=config.path,
                error_line=line,
            )
            projects.append(placeholder)
            continue
        folder = root / rel
        escape = _escapes(root, folder, rel)
        if escape:  # checked before anything outside the workspace is read
            projects.append(
                Project(
                    id=_unique_id(project_id(rel, folder), ids),
                    name=Path(rel).name or rel,
                    path=folder,
                    rel_path=rel,
                    error=escape,
                    error_file=config.path,
                    error_line=line,
                )
            )
            continue
        project = _project_at(folder, rel, Path(rel).name or rel, ids, boundary=root, dg=dg)
        projects.append(project)
        if project.error:
            continue
        real = folder.resolve()
        if real in seen:
            project.error = f"duplicate of project path {seen[real]!r}"
            project.error_file, project.error_line = config.path, line
            continue
        seen[real] = rel
    return Workspace(root, "workspace", config.path, projects)


def _escapes(root: Path, folder: Path, rel: str) -> str | None:
    if os.path.isabs(rel):
        return f"project path {rel!r} is absolute; paths are relative to the workspace"
    try:
        folder.resolve().relative_to(root.resolve())
    except ValueError:
        return f"project path {rel!r} points outside the workspace"
    except (OSError, RuntimeError):  # a symlink loop
        return f"project path {rel!r} is a symlink loop"
    return None


def _discover(start: Path, dg: DgFound | None) -> Workspace:
    """No dg config above: the project folders below, and the links that lead out, as errors."""
    boundary = start.resolve()
    found, outside = find_project_folders(start)
    ids: set[str] = set()
    projects = []
    for folder in found:
        rel = folder.relative_to(start).as_posix()
        projects.append(_project_at(folder, rel, folder.name, ids, boundary=boundary, dg=dg))
    for link, target in outside:
        rel = link.relative_to(start).as_posix()
        projects.append(
            Project(
                id=_unique_id(project_id(rel, link), ids),
                name=link.name,
                path=link,
                rel_path=rel,
                error=f"{rel!r} is a symlink to {target}, outside the scanned folder {start}; not followed",
                error_file=link,
            )
        )
    return Workspace(start, "discovered", None, projects)


def _project_at(
    folder: Path,
    rel: str,
    fallback_name: str,
    ids: set[str] | None = None,
    *,
    boundary: Path,
    dg: DgFound | None = None,
) -> Project:
    ids = ids if ids is not None else set()
    project = Project(
        id=_unique_id(project_id(rel, folder), ids),
        name=fallback_name or folder.name,
        path=folder,
        rel_path=rel,
    )
    if not folder.is_dir():
        project.error = f"project folder {rel!r} does not exist"
        return project
    escape = outward_config(folder, boundary)
    if escape is not None:
        project.fail(escape)
        return project
    try:
        config = read_dg_config(folder)
    except ConfigError as exc:
        project.fail(exc)
        return project
    project.name = _distribution_name(folder) or project.name
    if config is None:
        project.error = f"no dg config: add [tool.dg] to {PYPROJECT} or create dg.toml in {rel!r}"
        return project
    project.config_file = config.path
    kind = config.directory_type
    if kind != "project":
        line = key_line(config.file.text, "directory_type")
        shown = f'"{kind}"' if isinstance(kind, str) else repr(kind)
        why = "is missing" if kind is None else f"is {shown}"
        project.fail(ConfigError(config.path, f'directory_type {why}; expected "project"', line))
        return project
    try:
        project.reading = read_as_dg(config, folder, find_dg(folder, dg))
        project.mode = project.reading.setting
    except ConfigError as exc:
        project.fail(exc)
        return project
    settings = project_table(config)
    root_module = settings.get("root_module")
    project.root_module = root_module if isinstance(root_module, str) else None
    target = settings.get("code_location_target_module")
    project.definitions_module = target if isinstance(target, str) and target else None
    location = settings.get("code_location_name")  # dg's DgContext.code_location_name
    project.location_name = location if isinstance(location, str) and location else folder.name
    patterns = settings.get("registry_modules", [])
    if isinstance(patterns, list):
        project.registry_modules = [p for p in patterns if isinstance(p, str)]
    project.declares_registry_entry_point = _declares_entry_point(folder)
    return project


def _distribution_name(folder: Path) -> str | None:
    try:
        data = read_toml(folder / PYPROJECT).data
    except ConfigError:
        return None
    project = data.get("project")
    name = project.get("name") if isinstance(project, dict) else None
    return name if isinstance(name, str) and name else None


def _declares_entry_point(folder: Path) -> bool:
    """dg skips a project's registry_modules setting when its package declares an entry point."""
    try:
        data: dict[str, Any] = read_toml(folder / PYPROJECT).data
    except ConfigError:
        return False
    project = data.get("project", {})
    entry_points = project.get("entry-points", {}) if isinstance(project, dict) else {}
    return isinstance(entry_points, dict) and any(g in entry_points for g in ENTRY_POINT_GROUPS)


_NOT_ID = re.compile(r"[^a-z0-9]+")


def project_id(rel: str, folder: Path) -> str:
    """A URL-safe id derived from the project's path in the workspace."""
    base = rel if rel not in ("", ".") else folder.name
    slug = _NOT_ID.sub("-", base.lower()).strip("-")
    return slug or "project"


def _unique_id(candidate: str, taken: set[str]) -> str:
    unique = candidate
    if unique in taken:
        digest = hashlib.sha1(candidate.encode()).hexdigest()
        counter = 0
        while unique in taken:
            counter += 1
            unique = f"{candidate}-{digest[:4]}{counter}"
    taken.add(unique)
    return unique
