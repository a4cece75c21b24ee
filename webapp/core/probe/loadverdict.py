"""What a load check says: its verdict, and how it is read from what dg printed.

A verdict (`LoadCheck`) is loads, fails or not applicable; a failure carries the error as dg
located it (`file:line - message` for YAML, the deepest frame inside the project for Python),
a success the definitions `dg list defs --json` listed (an object of lists by kind today, one
flat list in the 0.26 era). Reading dg's words changes with dg's eras, not with how the check
is run or cached (`loadcheck.py`), so it lives here, beside the fields the pages show.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..disk.times import iso
from ..environments.output import strip_ansi

KINDS = ("assets", "asset_checks", "jobs", "schedules", "sensors", "resources")

LOADS, FAILS, NOT_APPLICABLE = "loads", "fails", "not_applicable"
NOT_CHECKED = "not_checked"  # the check was cancelled before dg answered: no verdict either way

# `dg check defs` names a YAML problem as `<file>:<line> - <message>`
_LOCATED = re.compile(r"^(?P<file>\S+?\.(?:ya?ml|py|toml)):(?P<line>\d+)\s+-\s+(?P<message>.+?)\s*$")
_FRAME = re.compile(r'^\s*File "(?P<file>[^"]+)", line (?P<line>\d+)')
_EXCEPTION = re.compile(r"^(?P<type>[A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt)):\s*(?P<message>.*)$")


@dataclass
class LoadCheck:
    """One verdict: loads (with its definitions) or fails (with a located error), and how it was got."""

    status: str  # loads / fails / not_applicable / not_checked (cancelled before dg answered)
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
    counting: bool = False  # dg's check said it loads; the listing of its definitions is still running

    @property
    def loads(self) -> bool | None:
        return {LOADS: True, FAILS: False}.get(self.status)

    @property
    def ended_at(self) -> float:
        """When the check ended: a failure is remembered a while from then, not from its start
        (one that timed out began CHECK_TIMEOUT before)."""
        return (self.checked_at or 0) + (self.duration or 0)

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
            "counting": self.counting,
        }

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> LoadCheck:
        names = ("status", "why", "command", "error", "output", "definitions", "keys", "checked_at")
        return cls(**{name: value.get(name) for name in names}, duration=value.get("duration"), cached=True)


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


# the records of the 0.26 era's listing (`dagster-components list definitions`), by class
CLASSES = {
    "DgAssetMetadata": "assets",
    "DgAssetCheckMetadata": "asset_checks",
    "DgJobMetadata": "jobs",
    "DgScheduleMetadata": "schedules",
    "DgSensorMetadata": "sensors",
}


def count_definitions(data: Any) -> tuple[dict[str, int | None], dict[str, list[str]]]:
    """Counts and keys from `dg list defs --json`: an object of lists by kind (dg 1.10.x and later),
    or the 0.26 era's flat list of records, each with its class where `dagster-components` printed
    it, else told apart by their fields. That era lists no resources: their count is None."""
    by_kind: dict[str, list[dict[str, Any]]] = {kind: [] for kind in KINDS}
    if isinstance(data, dict):
        for kind in KINDS:
            items = data.get(kind)
            by_kind[kind] = [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []
    elif isinstance(data, list):
        for item in data:
            if isinstance(item, dict):
                by_kind[CLASSES.get(item.get("__class__", "")) or _legacy_kind(item)].append(item)
    keys = {kind: sorted(_key(item) for item in items) for kind, items in by_kind.items()}
    counts: dict[str, int | None] = {kind: len(items) for kind, items in by_kind.items()}
    if isinstance(data, list) and not by_kind["resources"]:
        counts["resources"] = None  # not listed in that era: unknown, not none
    return counts, keys


def _legacy_kind(item: dict[str, Any]) -> str:
    """A record of 0.26's `dg list defs --json`, without its class: jobs and sensors are both
    {"name"}, and are counted as jobs (the listing above is used where it can run)."""
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


def listing_json(text: str) -> Any:
    """The JSON value dg printed; earlier lines (warnings, a `Using ...` line) are skipped."""
    start = min((i for i in (text.find("{"), text.find("[")) if i >= 0), default=-1)
    while start >= 0:
        try:
            return json.loads(text[start:])
        except ValueError:
            nexts = [i for i in (text.find("\n{", start + 1), text.find("\n[", start + 1)) if i >= 0]
            start = min(nexts) + 1 if nexts else -1
    return None
