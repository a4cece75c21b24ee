"""Which dg reads a project's config, and where envboard found it.

The one installed in the project's own `.venv`; before one exists, the one `uv.lock`
pins; else the workspace's (the active environment's, or the workspace root's `.venv`).
With no dg anywhere, `NO_DG`: the config is then read leniently (`reading.py`) and says so.

Separate from the era table (`eras.py`) because it is a search of folders, not a fact
about releases: it reads dist-info names and uv.lock only, no subprocess, no import of dg.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .locked import read_locked_versions

# the packages whose config.py reads the dg table, newest first
DG_PACKAGES = ("dagster-dg-core", "dagster-dg")


@dataclass(frozen=True)
class DgFound:
    """The dg that reads a project's config, and where envboard found it."""

    package: str | None
    version: str | None
    source: str  # "installed in .venv", "pinned in uv.lock", "the workspace's (...)", "none found"

    @property
    def label(self) -> str:
        return f"dg {self.version}" if self.version else "dg unknown"


NO_DG = DgFound(None, None, "no dg installed in the project's .venv, pinned in uv.lock or in the workspace")


_DIST_INFO = re.compile(r"^(dagster_dg_core|dagster_dg)-([^-]+)\.dist-info$")


def installed_dg(site_packages: list[Path]) -> DgFound | None:
    """The config-reading dg in these site-packages folders, from the dist-info names."""
    found: dict[str, str] = {}
    for folder in site_packages:
        try:
            names = [entry.name for entry in folder.iterdir()]
        except OSError:
            continue
        for name in names:
            match = _DIST_INFO.match(name)
            if match:
                found.setdefault(match.group(1).replace("_", "-"), match.group(2))
    for package in DG_PACKAGES:
        if package in found:
            return DgFound(package, found[package], "")
    return None


def venv_site_packages(venv: Path) -> list[Path]:
    return sorted(venv.glob("lib/python*/site-packages"))


def locked_dg(lock: Path) -> DgFound | None:

    pins = read_locked_versions(lock)
    for package in DG_PACKAGES:
        version = pins.get(package)
        if version:
            return DgFound(package, version.split(", ")[0], f"pinned in {lock.name}")
    return None


def find_dg(project_path: Path, workspace_dg: DgFound | None) -> DgFound:
    """Which dg reads this project's config: its .venv's, its uv.lock's, else the workspace's."""
    own = installed_dg(venv_site_packages(project_path / ".venv"))
    if own is not None:
        return DgFound(own.package, own.version, "installed in the project's .venv")
    pinned = locked_dg(project_path / "uv.lock")
    if pinned is not None:
        return pinned
    return workspace_dg or NO_DG


def workspace_dg(active_venv: Path | None, root: Path) -> DgFound | None:
    """The workspace's dg: the one in the environment envboard runs in, else the root's .venv."""
    for venv, where in ((active_venv, "the active environment"), (root / ".venv", "the workspace's .venv")):
        if venv is None:
            continue
        found = installed_dg(venv_site_packages(venv))
        if found is not None:
            return DgFound(found.package, found.version, f"the workspace's ({where})")
    return None
