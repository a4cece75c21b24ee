"""What is installed where: the versions matrix across projects, and one project's packages against its lock.

Built from the states the monitor published (the probe's package lists, uv.lock's pins,
the project's direct requirements), never from the disk, so a page or a command that
shows them costs no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..environments.sharing import environment_key
from ..live.state import ProjectState
from ..upgrades.outdated import OutdatedReport

# -- versions: packages by project --------------------------------------------------------------

PYTHON_ROW = "python"
SCOPE_DAGSTER = "dagster"  # the Dagster family and Python: what the page opens on
SCOPE_ALL = "all"


def is_dagster_family(name: str) -> bool:
    """`dagster`, `dagster-*` (dagster-dg-cli among them) and `dg`; Python rides along."""
    return name in ("dagster", "dg", PYTHON_ROW) or name.startswith("dagster-")


@dataclass(frozen=True)
class VersionFilters:
    q: str = ""  # a text in the package's name
    scope: str = SCOPE_ALL

    def matches(self, name: str) -> bool:
        query = self.q.strip().lower()
        if query and query not in name:
            return False
        return self.scope != SCOPE_DAGSTER or is_dagster_family(name)


@dataclass(frozen=True)
class VersionRow:
    name: str
    versions: dict[str, str | None]  # project id -> version, None where not installed
    skew: bool  # two or more different versions across the projects that have it
    common: str | None  # the version most projects have (None on a tie): the others stand out

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "versions": self.versions, "skew": self.skew}


@dataclass(frozen=True)
class Versions:
    states: list[ProjectState]  # the columns, in workspace order
    rows: list[VersionRow]  # the ones the filters let through: Python first, then by name
    total: int  # rows before filtering
    filters: VersionFilters
    waiting: list[str]  # ids of projects whose packages are not known yet (probing, failed)
    version: int = 0  # the monitor snapshot's version it was built from: a poller's token (0 outside one)
    warnings: tuple[Any, ...] = ()  # skew rules broken (upgrades/skew.py): host behind, family out of step
    newer: dict[str, dict[str, str]] = field(default_factory=dict)  # project id -> name -> newer on its index

    def newer_than(self, row: VersionRow, project_id: str) -> str | None:
        """The newer release on the project's index of the version its cell shows, if any."""
        return self.newer.get(project_id, {}).get(row.name)

    def to_json(self) -> dict[str, Any]:
        packages = []
        for row in self.rows:
            newer = {s.id: found for s in self.states if (found := self.newer_than(row, s.id))}
            packages.append({**row.to_json(), "newer": newer})
        return {
            "projects": [{"id": s.id, "name": s.project.name} for s in self.states],
            "packages": packages,
            "warnings": [warning.to_json() for warning in self.warnings],
        }


def version_matrix(states: list[ProjectState], filters: VersionFilters = VersionFilters()) -> Versions:  # noqa: B008
    """Every distribution installed in two or more projects, plus Python and the Dagster family."""
    installed: dict[str, dict[str, str]] = {}  # name -> project id -> version
    waiting = []
    for state in states:
        plugins = state.plugins
        if plugins is None or plugins.failure:
            waiting.append(state.id)
            continue
        for package in plugins.packages:
            installed.setdefault(package["name"], {})[state.id] = package["version"]
    # the Dagster family is what the page opens on: shown even where one project has it
    shared = {name: found for name, found in installed.items() if len(found) >= 2 or is_dagster_family(name)}
    shared.pop(PYTHON_ROW, None)  # the interpreter's row comes from the environment, below
    pythons = {s.id: s.python_version for s in states if s.python_version}
    ids = [s.id for s in states]
    # projects that run in one environment (sharing.py) are one environment when counting
    places = {s.id: environment_key(s.env) or s.id for s in states}
    rows = [_version_row(PYTHON_ROW, pythons, ids, places)]
    rows += [_version_row(name, shared[name], ids, places) for name in sorted(shared)]
    shown = [row for row in rows if filters.matches(row.name)]
    return Versions(list(states), shown, len(rows), filters, waiting)


def _version_row(name: str, found: dict[str, str], ids: list[str], places: dict[str, str]) -> VersionRow:
    distinct = sorted(set(found.values()))
    environments = {(places.get(i, i), v) for i, v in found.items()}
    counts = sorted((sum(1 for _, seen in environments if seen == v), v) for v in distinct)
    # the version most projects share; None on a tie, where no one version is the odd one out
    common = counts[-1][1] if counts and (len(counts) == 1 or counts[-1][0] > counts[-2][0]) else None
    return VersionRow(name, {i: found.get(i) for i in ids}, len(distinct) > 1, common)


# -- packages: one project's, against its lock --------------------------------------------------


@dataclass(frozen=True)
class PackageRow:
    name: str
    version: str | None  # None: not installed, though uv's plan says `uv sync` would install it
    locked: str | None  # what uv.lock pins; None when the lock lacks it or there is no lock
    direct: bool  # pyproject.toml asks for it by name
    planned: str | None = None  # what uv's plan would install, when the lock does not pin it (yet)

    @property
    def differs(self) -> bool:
        """Not what the lock pins: installed by hand, at another version, or missing."""
        return self.version is None or self.locked is None or self.version not in self.locked.split(", ")

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "locked": self.locked,
            "planned": self.planned,
            "direct": self.direct,
        }


@dataclass(frozen=True)
class Packages:
    state: ProjectState
    rows: list[PackageRow]  # the ones the filter lets through, by name
    total: int
    q: str
    version: int = 0  # the monitor snapshot's version it was read from: a poller's token (0 outside one)
    outdated: OutdatedReport | None = None  # what the project's index has (upgrades/outdated.py)

    def latest(self, row: PackageRow) -> tuple[str | None, str | None]:
        """The newest release of the row's package on the project's index, or None and why not."""
        if self.outdated is None:
            return None, "not asked"
        return self.outdated.newest(row.name, row.version)

    def newer(self, row: PackageRow) -> str | None:
        """The newest release, when it is not the installed one."""
        latest, _ = self.latest(row)
        return latest if latest is not None and latest != row.version else None

    @property
    def known(self) -> bool:
        """The probe has answered: an empty list means none, not "not yet"."""
        return self.state.plugins is not None and not self.state.plugins.failure

    @property
    def differing(self) -> int:
        return sum(1 for row in self.rows if row.differs)

    def to_json(self) -> dict[str, Any]:
        rows = []
        for row in self.rows:
            latest, why = self.latest(row)
            rows.append({**row.to_json(), "latest": latest, "latest_unknown": why})
        return {"project": self.state.id, "packages": rows}


def package_list(state: ProjectState, q: str = "") -> Packages:
    plugins = state.plugins
    installed = plugins.packages if plugins is not None and not plugins.failure else []
    lock = state.lock
    locked = lock.locked if lock is not None and lock.present else {}
    direct = set(state.direct)
    rows = [
        PackageRow(p["name"], p["version"], locked.get(p["name"]), p["name"] in direct) for p in installed
    ]
    if installed:  # what uv would install is missing here: its own plan says which (no guess from the lock)
        present = {p["name"] for p in installed}
        drift = state.status.drift if state.status else ()
        rows += [
            # "locked" is only ever what uv.lock pins: a version from the plan is labelled planned
            PackageRow(d["name"], None, locked.get(d["name"]), d["name"] in direct, d.get("locked"))
            for d in drift
            if d.get("action") == "install" and d["name"] not in present
        ]
    rows.sort(key=lambda row: row.name)
    query = q.strip().lower()
    shown = [row for row in rows if query in row.name] if query else rows
    return Packages(state, shown, len(rows), q)
