"""Does a project's code location load? dg's own definitions check, in the project's environment.

The check is the command the project's own dg has (`dg check defs`; dagster-dg 0.26.x has the
same command and the same exit codes), run through the resolver in the environment envboard
resolves for the project; its definitions come from `dg list defs --json` (an object of
lists by kind today, one flat list in the 0.26 era). An environment without dg but with
Dagster gets `dagster definitions validate` on the project's definitions module, the load
dg's check runs underneath. Answers live in the dependency cache, keyed on what they depend
on: the project's sources and YAML files, `.env`, its config, and the environment.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..disk.cache import DependencyCache, stamp_all
from ..disk.times import iso
from ..environments.output import strip_ansi
from ..environments.processes import Cancellation, Invocation, RunResult, run
from ..environments.resolver import ResolvedEnvironment, Resolver
from ..workspace.scan import Project
from .runner import merge_stamps

CHECK_VERSION = "1"  # bump when what a stored answer means changes
CHECK_TIMEOUT = 300.0
CHECK_NICENESS = 10  # below every page and job: a check is never urgent
KINDS = ("assets", "asset_checks", "jobs", "schedules", "sensors", "resources")
SOURCE_SUFFIXES = (".py", ".yaml", ".yml", ".toml", ".json", ".sql", ".env")
SKIPPED_FOLDERS = {"__pycache__", "node_modules", "build", "dist"}  # and every folder starting with "."
MAX_SOURCE_FILES = 5000  # a project folder holding a data dump is not walked to the end

LOADS, FAILS, NOT_APPLICABLE = "loads", "fails", "not_applicable"

# `dg check defs` names a YAML problem as `<file>:<line> - <message>`
_LOCATED = re.compile(r"^(?P<file>\S+?\.(?:ya?ml|py|toml)):(?P<line>\d+)\s+-\s+(?P<message>.+?)\s*$")
_FRAME = re.compile(r'^\s*File "(?P<file>[^"]+)", line (?P<line>\d+)')
_EXCEPTION = re.compile(r"^(?P<type>[A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt)):\s*(?P<message>.*)$")


@dataclass
class LoadCheck:
    """One verdict: loads (with its definitions) or fails (with a located error), and how it was got."""

    status: str  # loads / fails / not_applicable
    why: str  # which command decides, or why none can run
    command: str | None = None
    error: dict[str, Any] | None = None  # {"message", "file", "line"}
    output: str = ""  # what the check printed (the traceback, folded on the page)
    definitions: dict[str, int] | None = None
    keys: dict[str, list[str]] = field(default_factory=dict)
    checked_at: float | None = None
    duration: float | None = None
    cached: bool = False
    ran: bool = True  # False when the command could not run at all (timed out, not found): not cached

    @property
    def loads(self) -> bool | None:
        return {LOADS: True, FAILS: False}.get(self.status)

    def summary(self) -> dict[str, Any]:
        """The fields of `envboard check --json`, per project."""
        return {
            "loads": self.loads,
            "error": self.error,
            "definitions": self.definitions,
            "checked_at_iso": iso(self.checked_at),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            **self.summary(),
            "why": self.why,
            "command": self.command,
            "output": self.output,
            "keys": self.keys,
            "checked_at": self.checked_at,
            "duration": self.duration,
            "cached": self.cached,
            "ran": self.ran,
        }

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> LoadCheck:
        names = ("status", "why", "command", "error", "output", "definitions", "keys", "checked_at")
        return cls(**{name: value.get(name) for name in names}, duration=value.get("duration"), cached=True)


@dataclass(frozen=True)
class CheckPlan:
    """The commands that decide for one environment, or why there are none."""

    why: str
    check: list[str] | None = None
    listing: list[str] | None = None


def plan(project: Project, env: ResolvedEnvironment, resolver: Resolver) -> CheckPlan:
    """`dg check defs` + `dg list defs --json` with the environment's dg; else Dagster's own validate."""
    problem = resolver.unavailable(env)
    if problem:
        return CheckPlan(f"nothing can run in this environment: {problem}")
    if not env.exists:
        return CheckPlan(f"no environment at {env.venv or env.python} yet")
    scripts = Path(env.python).parent  # the environment's bin folder: where its dg and dagster are
    if (scripts / "dg").is_file():
        return CheckPlan(
            f"the environment's own dg ({scripts / 'dg'}): `dg check defs`, as dg runs it, decides; "
            "the definitions come from `dg list defs --json`",
            ["dg", "check", "defs"],
            ["dg", "list", "defs", "--json"],
        )
    if (scripts / "dagster").is_file() and project.root_module:
        module = f"{project.root_module}.definitions"
        return CheckPlan(
            f"no dg in this environment: `dagster definitions validate -m {module}` loads the "
            "definitions as dg's check does underneath; definitions are not counted without dg",
            ["dagster", "definitions", "validate", "-m", module],
        )
    return CheckPlan("neither dg nor dagster is installed in this environment: nothing to load it with")


def cache_key(project: Project, env: ResolvedEnvironment, checks: CheckPlan) -> str:
    parts = {
        "version": CHECK_VERSION,
        "mode": env.mode,
        "python": str(env.python),
        "root": str(project.path),
        "check": checks.check,
        "listing": checks.listing,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def source_files(root: Path) -> tuple[list[str], list[str]]:
    """The project's source, YAML and .env files, and the folders holding them (a new file
    changes its folder's stamp); the environment, caches and hidden folders are left out."""
    files: list[str] = []
    folders: list[str] = []
    for folder, subfolders, names in os.walk(root):
        subfolders[:] = sorted(
            s
            for s in subfolders
            if not s.startswith(".") and s not in SKIPPED_FOLDERS and "egg-info" not in s
        )
        folders.append(folder)
        files.extend(os.path.join(folder, n) for n in sorted(names) if n.endswith(SOURCE_SUFFIXES))
        if len(files) > MAX_SOURCE_FILES:
            break
    return files, folders


def dependencies(project: Project, env: ResolvedEnvironment) -> dict[str, list[str]]:
    files, folders = source_files(project.path)
    content = [str(project.path / ".env")]
    if env.uv_root is not None and env.uv_root != project.path:
        content.append(str(env.uv_root / ".env"))
    return {
        "content": content,
        "file": [str(env.python), *files],
        "folder": folders,
        "site": [str(p) for p in env.site_packages],
    }


def check_invocation(resolver: Resolver, env: ResolvedEnvironment, args: list[str], home: Path) -> Invocation:
    """In the project's environment, without syncing it; dg's update check and Dagster's telemetry off,
    and a Dagster home of its own so nothing is written into the project's folder."""
    base = resolver.invocation(env, args, sync=False)
    quiet = {
        "DAGSTER_DG_UPDATE_CHECK_ENABLED": "0",
        "DAGSTER_DISABLE_TELEMETRY": "1",
        "DAGSTER_HOME": str(home),
        "NO_COLOR": "1",
    }
    return Invocation(base.argv, base.cwd, {**base.env, **quiet})


def located_error(output: str, project_root: Path) -> dict[str, Any]:
    """The error as dg states it: `file:line - message` for YAML; for Python the exception
    and the deepest frame inside the project; else the last words."""
    lines = [line.rstrip() for line in strip_ansi(output).splitlines()]
    for line in lines:
        found = _LOCATED.match(line.strip())
        if found:
            return {"message": found["message"], "file": found["file"], "line": int(found["line"])}
    message = None
    for line in reversed(lines):
        found = _EXCEPTION.match(line.strip())
        if found:
            message = f"{found['type']}: {found['message']}".rstrip(": ")
            break
    where: tuple[str, int] | None = None
    root = str(project_root) + os.sep
    for line in lines:
        found = _FRAME.match(line)
        if found and found["file"].startswith(root) and f"{os.sep}.venv{os.sep}" not in found["file"]:
            where = (found["file"], int(found["line"]))
    if message is None:
        words = [line.strip() for line in lines if line.strip()]
        message = words[-1][:600] if words else "the check failed without saying why"
    return {"message": message, "file": where[0] if where else None, "line": where[1] if where else None}


def count_definitions(data: Any) -> tuple[dict[str, int], dict[str, list[str]]]:
    """Counts and keys from `dg list defs --json`: an object of lists by kind (dg 1.10.x and later),
    or the 0.26 era's flat list of records, told apart by their fields."""
    by_kind: dict[str, list[dict[str, Any]]] = {kind: [] for kind in KINDS}
    if isinstance(data, dict):
        for kind in KINDS:
            items = data.get(kind)
            by_kind[kind] = [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []
    elif isinstance(data, list):
        for item in data:
            if isinstance(item, dict):
                by_kind[_legacy_kind(item)].append(item)
    keys = {kind: sorted(_key(item) for item in items) for kind, items in by_kind.items()}
    return {kind: len(items) for kind, items in by_kind.items()}, keys


def _legacy_kind(item: dict[str, Any]) -> str:
    if "asset_key" in item and "name" in item:
        return "asset_checks"
    if "key" in item or "asset_key" in item:
        return "assets"
    if "cron_schedule" in item:
        return "schedules"
    if "type" in item and "name" in item:
        return "resources"
    if "sensor_type" in item or "possible_targets" in item:
        return "sensors"
    return "jobs"


def _key(item: dict[str, Any]) -> str:
    if "asset_key" in item and "name" in item:  # an asset check: asset and check name
        return f"{item['asset_key']}:{item['name']}"
    for name in ("asset_key", "key", "name"):
        if item.get(name) is not None:
            return str(item[name])
    return json.dumps(item, sort_keys=True)[:200]


NOUNS = {
    "assets": ("asset", "assets"),
    "asset_checks": ("asset check", "asset checks"),
    "jobs": ("job", "jobs"),
    "schedules": ("schedule", "schedules"),
    "sensors": ("sensor", "sensors"),
    "resources": ("resource", "resources"),
}


def count_words(definitions: dict[str, int] | None) -> str:
    """'3 assets, 1 job' (kinds with none left out); 'no definitions' when all are 0; '' unknown."""
    if not definitions:
        return ""
    words = [f"{definitions[k]} {NOUNS[k][definitions[k] != 1]}" for k in KINDS if definitions.get(k)]
    return ", ".join(words) or "no definitions"


def _listing_json(text: str) -> Any:
    """The JSON value dg printed; earlier lines (warnings, a `Using ...` line) are skipped."""
    start = min((i for i in (text.find("{"), text.find("[")) if i >= 0), default=-1)
    while start >= 0:
        try:
            return json.loads(text[start:])
        except ValueError:
            nexts = [i for i in (text.find("\n{", start + 1), text.find("\n[", start + 1)) if i >= 0]
            start = min(nexts) + 1 if nexts else -1
    return None


def _dagster_home(scratch: str, name: str) -> Path:
    """A Dagster home of the check's own; Dagster's telemetry setting lives in its dagster.yaml."""
    home = Path(scratch, name)
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    return home


class _EitherCancelled(Cancellation):
    """Cancelled by its own switch or by the one it follows (the job's, or envboard stopping)."""

    def __init__(self, outer: Cancellation) -> None:
        super().__init__()
        self.outer = outer

    @property
    def requested(self) -> bool:
        return self.event.is_set() or self.outer.requested


def _in_background(work: Callable[[], RunResult]) -> Future:
    """One command on a thread of its own, beside the check (not the board's pools)."""
    future: Future = Future()

    def target() -> None:
        try:
            future.set_result(work())
        except BaseException as exc:  # noqa: BLE001 - handed to whoever reads the result
            future.set_exception(exc)

    threading.Thread(target=target, name="envboard-list-defs", daemon=True).start()
    return future


class DefinitionsCheck:
    """Runs the check through the shared launcher and keeps verdicts in the dependency cache."""

    def __init__(self, resolver: Resolver, cache: DependencyCache) -> None:
        self.resolver = resolver
        self.cache = cache
        self.stopping = Cancellation()  # set when envboard stops: no check outlives it

    def plan(self, project: Project, env: ResolvedEnvironment) -> CheckPlan:
        return plan(project, env, self.resolver)

    def cached(self, project: Project, env: ResolvedEnvironment) -> LoadCheck | None:
        """The stored verdict while nothing it depended on changed; a not-applicable one at once."""
        checks = self.plan(project, env)
        if checks.check is None:
            return LoadCheck(NOT_APPLICABLE, checks.why)
        value = self.cache.load(f"defs:{project.path}", cache_key(project, env, checks))
        return LoadCheck.from_json(value) if value else None

    def check(
        self, project: Project, env: ResolvedEnvironment, cancel: Cancellation | None = None
    ) -> LoadCheck:
        """Always runs the commands (at low priority, with a timeout) and stores the verdict.

        `cancel` is a job's switch (a sync's check ends with the sync); without one, stopping
        envboard ends the check.
        """
        checks = self.plan(project, env)
        if checks.check is None:
            return LoadCheck(NOT_APPLICABLE, checks.why)
        started = time.time()
        needs = dependencies(project, env)
        # stamped before dg reads anything: a file saved during the check makes its verdict stale
        before = stamp_all(needs)
        stop = cancel or self.stopping
        with tempfile.TemporaryDirectory(prefix="envboard-check-") as scratch:
            check_home, listing_home = _dagster_home(scratch, "check"), _dagster_home(scratch, "listing")
            listing: Future | None = None
            listing_stop = _EitherCancelled(stop)
            if checks.listing is not None:
                # both at once: `dg list defs` loads the definitions again, so verdict and counts
                # take about one load's time instead of two; a failed check cancels the listing
                listing_invocation = check_invocation(self.resolver, env, checks.listing, listing_home)
                listing = _in_background(lambda: self._run(listing_invocation, listing_stop))
            invocation = check_invocation(self.resolver, env, checks.check, check_home)
            result = self._run(invocation, stop)
            verdict = self._verdict(project, checks, invocation, result)
            if listing is not None:
                if verdict.status != LOADS:
                    listing_stop.cancel()
                listed = listing.result()
                if verdict.status == LOADS:
                    self._read_listing(verdict, listed)
        verdict.checked_at, verdict.duration = started, time.time() - started
        if verdict.ran:
            value = verdict.to_json()
            stamps = merge_stamps(stamp_all(needs), before)
            self.cache.store(f"defs:{project.path}", cache_key(project, env, checks), value, needs, stamps)
        return verdict

    @staticmethod
    def _run(invocation: Invocation, cancel: Cancellation) -> RunResult:
        return run(invocation, capture=True, timeout=CHECK_TIMEOUT, cancel=cancel, niceness=CHECK_NICENESS)

    @staticmethod
    def _verdict(project: Project, checks: CheckPlan, invocation: Invocation, result: RunResult) -> LoadCheck:
        text = strip_ansi(result.text)[-40000:]
        command = invocation.display()
        if result.error:  # it did not run to its end: no verdict about the project
            error = {"message": f"the check could not run: {result.error}", "file": None, "line": None}
            return LoadCheck(FAILS, checks.why, command, error, text, ran=False)
        if result.exit_code == 0:
            return LoadCheck(LOADS, checks.why, command, output=text)
        return LoadCheck(FAILS, checks.why, command, located_error(text, project.path), text)

    @staticmethod
    def _read_listing(verdict: LoadCheck, result: RunResult) -> None:
        data = _listing_json(result.text) if result.ok else None
        if data is None:
            said = result.text[-4000:]
            verdict.output += f"\n[envboard] `dg list defs --json` gave no definitions:\n{said}"
            return
        verdict.definitions, verdict.keys = count_definitions(data)
