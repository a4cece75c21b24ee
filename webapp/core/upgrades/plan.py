"""What an upgrade would do to each project, found without writing anything.

For each project, `uv lock --upgrade-package NAME==VERSION --dry-run` at the root uv
treats as the project: uv resolves with the project's own settings and prints the
lock's diff (`Update a v1 -> v2`, `Add b v1`, `Remove c v1`) and changes no file.
When uv cannot resolve, its own message says why; a requirement in the project's
`pyproject.toml` that excludes the target is named, with the edit that would allow
it (an apply makes that edit first when the plan was approved with it).

The Dagster family moves together: `dagster` to the target version and every other
installed `dagster-*` package (dagster-dg-cli among them) to the newest that fits.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

from ..environments.output import last_words, strip_ansi
from ..environments.processes import Invocation, run
from ..environments.resolver import ResolvedEnvironment, Resolver
from ..workspace.dg import MODE_UV
from ..workspace.locked import normalise
from ..workspace.scan import Project
from .target import Target, in_family

PLAN_TIMEOUT = 300.0
_LINE = re.compile(r"^(Update|Add|Remove) (\S+) v(\S+)(?: -> v(\S+))?$")


@dataclass(frozen=True)
class Change:
    name: str
    before: str | None  # None: added
    after: str | None  # None: removed

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "from": self.before, "to": self.after}


@dataclass(frozen=True)
class Edit:
    """A requirement in pyproject.toml that keeps the target out, and what would let it in."""

    file: Path
    old: str
    new: str

    def to_json(self) -> dict[str, Any]:
        return {"file": str(self.file), "from": self.old, "to": self.new}


@dataclass(frozen=True)
class ProjectPlan:
    project_id: str
    name: str
    changes: tuple[Change, ...] = ()
    blocked: str | None = None  # why uv cannot do it (with the edit that would allow it, if one would)
    edit: Edit | None = None  # approving the plan approves this edit too

    @property
    def approvable(self) -> bool:
        return (self.blocked is None and bool(self.changes)) or self.edit is not None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.project_id,
            "name": self.name,
            "changes": [c.to_json() for c in self.changes],
            "blocked": self.blocked,
        }


@dataclass(frozen=True)
class Plan:
    target: Target
    projects: tuple[ProjectPlan, ...]

    def to_json(self) -> dict[str, Any]:
        return {"target": self.target.to_json(), "projects": [p.to_json() for p in self.projects]}


def upgrade_args(target: Target, installed: list[str]) -> list[str]:
    """`--upgrade-package` for the target (at its version) and, for the family, each member."""
    pin = f"=={target.version}" if target.version else ""
    args = ["--upgrade-package", f"{target.lead}{pin}"]
    if target.family:
        for name in sorted(set(installed)):
            if in_family(name) and name != "dagster":
                args += ["--upgrade-package", name]
    return args


def lock_invocation(
    resolver: Resolver, env: ResolvedEnvironment, target: Target, installed: list[str], *, dry_run: bool
) -> Invocation:
    root = env.uv_root or env.project_root
    args = ["lock", *upgrade_args(target, installed), "--color", "never"]
    return resolver.uv_invocation(root, [*args, "--dry-run"] if dry_run else args)


def parse_changes(text: str) -> list[Change]:
    """The lock diff uv prints for `uv lock --dry-run` (and `uv lock`)."""
    changes = []
    for line in strip_ansi(text).splitlines():
        match = _LINE.match(line.strip())
        if not match:
            continue
        verb, name, first, second = match.groups()
        if verb == "Update":
            changes.append(Change(normalise(name), first, second))
        elif verb == "Add":
            changes.append(Change(normalise(name), None, first))
        else:
            changes.append(Change(normalise(name), first, None))
    return changes


def blocking_requirement(pyproject: Path, name: str, version: str) -> Edit | None:
    """The project's own requirement on `name` that `version` does not satisfy, and its fix.

    The fix drops the clauses that exclude the version (a `<2`, an `==1.0`, a `!=2.0`)
    and asks for at least the target, so the lock cannot fall back; extras and markers stay.
    """
    # loaded when a plan is made: packaging's requirement parser costs every server start 13 ms
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.specifiers import SpecifierSet

    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8-sig"))
        wanted = Version(version)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, InvalidVersion):
        return None
    for text in _requirement_strings(data):
        try:
            requirement = Requirement(text)
        except InvalidRequirement:
            continue
        if normalise(requirement.name) != name or requirement.specifier.contains(wanted, prereleases=True):
            continue
        kept = [str(s) for s in requirement.specifier if s.contains(wanted, prereleases=True)]
        requirement.specifier = SpecifierSet(",".join([*kept, f">={version}"]))
        return Edit(pyproject, text, str(requirement))
    return None


def _requirement_strings(data: dict[str, Any]) -> list[str]:
    found: list[Any] = []
    project = data.get("project") if isinstance(data.get("project"), dict) else {}
    found += project.get("dependencies") or []
    for group in (project.get("optional-dependencies") or {}).values():
        found += group if isinstance(group, list) else []
    groups = data.get("dependency-groups")
    for group in (groups or {}).values() if isinstance(groups, dict) else []:
        found += group if isinstance(group, list) else []
    return [item for item in found if isinstance(item, str)]


def plan_project(
    resolver: Resolver,
    project: Project,
    env: ResolvedEnvironment | None,
    target: Target,
    installed: list[str],
) -> ProjectPlan:
    """What uv would do to this project's lock; nothing is written."""
    if env is None:
        return ProjectPlan(project.id, project.name, blocked="the project's config has an error")
    if env.mode != MODE_UV:
        return ProjectPlan(
            project.id,
            project.name,
            blocked="envboard does not manage the active environment; switch it to persistent_uv first",
        )
    problem = resolver.unavailable(env)
    if problem:
        return ProjectPlan(project.id, project.name, blocked=problem)
    result = run(
        lock_invocation(resolver, env, target, installed, dry_run=True), capture=True, timeout=PLAN_TIMEOUT
    )
    if result.ok:
        changes = tuple(parse_changes(result.text))
        return ProjectPlan(project.id, project.name, changes)  # no changes: already there
    words = result.error or last_words(result.text) or f"uv exited {result.exit_code}"
    cause = [line.strip() for line in result.text.splitlines() if line.strip().startswith("cause:")]
    reason = f"{words} {cause[-1]}" if cause and not result.error else words
    edit = (
        blocking_requirement(project.path / "pyproject.toml", target.lead, target.version)
        if (target.version)
        else None
    )
    if edit is not None:
        reason = f"{reason} — change {edit.old!r} to {edit.new!r} in {edit.file.name} to allow it"
    return ProjectPlan(project.id, project.name, blocked=reason, edit=edit)
