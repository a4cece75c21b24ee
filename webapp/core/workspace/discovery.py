"""Finding where dg would start (the workspace root above a folder), and project folders below
a folder that is not a dg workspace, the way dg's users lay them out.

Environments, caches and build output are skipped, loops are walked once, and a symlink
is followed only while it stays inside the folder being scanned: one that leads out (to
another checkout, to a home folder) would let a mode change edit files nobody asked to
scan, so if it leads to something that looks like a project it is reported, unfollowed.
"""

from __future__ import annotations

import os
from pathlib import Path

from .config import ConfigError, has_dg_config, read_dg_config
from .dg import DG_TOML, PYPROJECT

SKIPPED_FOLDERS = {".venv", "venv", "node_modules", "__pycache__", "site-packages", "build", "dist"}
MAX_DISCOVERY_DEPTH = 6


def outward_config(folder: Path, boundary: Path) -> ConfigError | None:
    """A dg.toml or pyproject.toml in `folder` that is a symlink to a file outside `boundary`.

    Such a file is neither read (its contents would show on pages) nor written (a mode
    change would replace the link with a regular file, or edit a file outside): the
    project gets this located error instead.
    """
    for name in (DG_TOML, PYPROJECT):
        path = folder / name
        if not path.is_symlink():
            continue
        try:
            target = path.resolve(strict=True)
        except (OSError, RuntimeError):
            return ConfigError(path, "is a broken symlink or a symlink loop")
        if not target.is_relative_to(boundary.resolve()):
            return ConfigError(
                path,
                f"is a symlink to {target}, outside {boundary}; envboard does not read or write "
                "config files through links that leave the workspace: copy the file here instead",
            )
    return None


def find_project_folders(start: Path) -> tuple[list[Path], list[tuple[Path, Path]]]:
    """The folders below `start` that hold dg settings, and (link, target) for links that leave it."""
    boundary = start.resolve()
    found: list[Path] = []
    outside: list[tuple[Path, Path]] = []
    visited: set[tuple[int, int]] = set()

    def walk(folder: Path, depth: int) -> None:
        try:
            info = folder.stat()
        except OSError:
            return
        if (info.st_dev, info.st_ino) in visited:
            return
        visited.add((info.st_dev, info.st_ino))
        if outward_config(folder, boundary) or has_dg_config(folder):
            found.append(folder)
            return
        if depth >= MAX_DISCOVERY_DEPTH:
            return
        try:
            children = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            return
        for child in children:
            if child.name.startswith(".") or child.name in SKIPPED_FOLDERS:
                continue
            if not child.is_dir():
                continue
            if child.is_symlink():
                try:
                    target = Path(child.path).resolve(strict=True)
                except (OSError, RuntimeError):
                    continue
                if not target.is_relative_to(boundary):
                    if any((target / name).exists() for name in (DG_TOML, PYPROJECT)):
                        outside.append((Path(child.path), target))
                    continue
            walk(Path(child.path), depth + 1)

    walk(start, 0)
    return found, outside


def find_workspace_root(start: Path) -> Path | None:
    """Where dg would start: the nearest dg config at or above `start`, and when that is a
    project, the workspace above it if there is one (a project inside a workspace is
    seen as part of it, as dg does)."""
    start = start.resolve()
    nearest = _nearest_config(start, workspace_only=False)
    if nearest is None:
        return None
    if _directory_type(nearest) == "workspace":
        return nearest
    return _nearest_config(nearest.parent, workspace_only=True) or nearest


def _nearest_config(start: Path, workspace_only: bool) -> Path | None:
    for folder in (start, *start.parents):
        if outward_config(folder, folder):
            return folder  # not read: the scan reports it as a located error
        if has_dg_config(folder):
            kind = _directory_type(folder)
            if kind is _NO_CONFIG:
                continue
            if not workspace_only or kind == "workspace":
                return folder
    return None


_NO_CONFIG = object()


def _directory_type(folder: Path) -> object:
    """The folder's `directory_type`; None when its config cannot be read (a broken config
    still marks a root, and the scan reports it); _NO_CONFIG when it has no dg table."""
    try:
        config = read_dg_config(folder)
    except ConfigError:
        return None
    return _NO_CONFIG if config is None else config.directory_type
