"""Version rules across a Dagster workspace, for the Versions page.

- The host (the workspace's own environment, which runs `dg dev` or the webserver) must
  run a Dagster at least as new as every code location's.
- Within one project the Dagster family moves in lockstep: the core packages share
  dagster's version (1.13.27), and the integration libraries carry the matching 0.x
  release (0.29.27 for 1.13.27: minor + 16, same patch), as Dagster releases them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

from ..live.state import ProjectState
from .target import in_family

LIBRARY_MINOR_OFFSET = 16  # dagster 1.N ships its integration libraries as 0.(N + 16)
_DAGSTER_DIST = re.compile(r"^dagster-([^-]+)\.dist-info$")


@dataclass(frozen=True)
class SkewWarning:
    kind: str  # "host" or "lockstep"
    project_id: str
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "project": self.project_id, "message": self.message}


def dagster_in(venv: Path | None) -> str | None:
    """The dagster version installed in a virtual environment, from its dist-info folder's name."""
    if venv is None:
        return None
    for site in sorted(venv.glob("lib/python*/site-packages")):
        for entry in sorted(site.iterdir()):
            match = _DAGSTER_DIST.match(entry.name)
            if match:
                return match.group(1)
    return None


def host_environment(workspace_root: Path, active_venv: Path | None) -> Path | None:
    """The workspace's own environment: its `.venv` when it has one, else the active one."""
    own = workspace_root / ".venv"
    return own if (own / "pyvenv.cfg").is_file() else active_venv


def in_lockstep(dagster: Version, member: Version) -> bool:
    if member.major == dagster.major:
        return member.release[:3] == dagster.release[:3]
    if member.major == 0 and dagster.major == 1:
        return member.minor == dagster.minor + LIBRARY_MINOR_OFFSET and member.micro == dagster.micro
    return True  # a numbering this rule does not know: say nothing rather than guess


def skew_warnings(states: list[ProjectState], host_dagster: str | None) -> list[SkewWarning]:
    warnings = []
    host = _version(host_dagster)
    for state in states:
        plugins = state.plugins
        if plugins is None or plugins.failure:
            continue
        versions = {p["name"]: p["version"] for p in plugins.packages}
        dagster = _version(versions.get("dagster"))
        if dagster is None:
            continue
        name = state.project.name
        if host is not None and dagster > host:
            warnings.append(
                SkewWarning(
                    "host",
                    state.id,
                    f"{name} runs dagster {dagster}, newer than the workspace's {host}: "
                    "the host must run a Dagster at least as new as every code location",
                )
            )
        behind = []
        for member, text in sorted(versions.items()):
            version = _version(text)
            if member != "dagster" and in_family(member) and version and not in_lockstep(dagster, version):
                behind.append(f"{member} {text}")
        if behind:
            warnings.append(
                SkewWarning(
                    "lockstep",
                    state.id,
                    f"{name}: the Dagster family is out of lockstep with dagster {dagster}: "
                    + ", ".join(behind),
                )
            )
    return warnings


def _version(text: str | None) -> Version | None:
    try:
        return Version(text) if text else None
    except InvalidVersion:
        return None
