"""The probe's answer as envboard reads it: a project's plugin list, versions and packages.

The probe runs the project's code, which may write anything into its answer: only the fields
known here are taken, and every text shown is cut (`cut_text`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..disk.times import iso

# every text shown (a summary, an error's message or traceback) is cut to this, as the probe
# itself also does
MAX_TEXT = 4096


@dataclass
class PluginList:
    registry_modules: list[dict[str, Any]] = field(default_factory=list)
    components: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    cached: bool = False
    probed_at: float | None = None
    duration: float | None = None
    python_version: str | None = None
    dagster_importable: bool | None = None
    failure: str | None = None  # the probe itself could not run
    output: str = ""  # what the probe printed when it failed
    # `registry_modules` patterns of the project that matched no importable module
    unmatched_patterns: list[str] = field(default_factory=list)
    # read by the same probe run, so they are exactly as fresh as the plugin list
    dagster_version: str | None = None
    dg_version: str | None = None  # dagster-dg-cli, or dagster-dg in the 1.10 era
    packages: list[dict[str, str]] = field(default_factory=list)  # [{"name", "version"}], sorted

    @property
    def ended_at(self) -> float:
        """When the probe ended: a failure is remembered a while from then, not from its start
        (one that timed out began PROBE_TIMEOUT before)."""
        return (self.probed_at or 0) + (self.duration or 0)

    @property
    def package_count(self) -> int | None:
        return len(self.packages) if self.failure is None else None

    @property
    def shortfalls(self) -> list[str]:
        """Why the listing has fewer plugins than the project expects, in a few words each (the
        overview's row and `envboard list` say them; the project page says them at length)."""
        if self.failure:
            return []
        words = []
        if self.dagster_importable is False:
            words.append("dagster does not import" if self.dagster_version else "dagster not installed")
        words += [f"registry_modules: {pattern} matched nothing" for pattern in self.unmatched_patterns]
        return words

    def to_json(self) -> dict[str, Any]:
        return {
            "registry_modules": self.registry_modules,
            "unmatched_patterns": self.unmatched_patterns,
            "components": self.components,
            "errors": self.errors,
            "cached": self.cached,
            "probed_at": self.probed_at,
            "probed_at_iso": iso(self.probed_at),
            "python_version": self.python_version,
            "dagster_importable": self.dagster_importable,
            "dagster_version": self.dagster_version,
            "dg_version": self.dg_version,
            "packages": self.packages,
            "failure": self.failure,
        }

    @classmethod
    def from_probe(cls, data: dict[str, Any], probed_at: float, duration: float) -> PluginList:
        return cls(probed_at=probed_at, duration=duration, **_answer_fields(data))


_ANSWER_DEFAULTS: dict[str, Any] = {
    "registry_modules": [],
    "unmatched_patterns": [],
    "components": [],
    "errors": [],
    "python_version": None,
    "dagster_importable": None,
    "dagster_version": None,
    "dg_version": None,
    "packages": [],
}


def _answer_fields(data: dict[str, Any]) -> dict[str, Any]:
    fields = {}
    for name, default in _ANSWER_DEFAULTS.items():
        value = data.get(name, default)
        fields[name] = list(value) if isinstance(value, list) else value  # never a shared default
    fields["components"] = [_cut_texts(item, ("summary",)) for item in fields["components"]]
    fields["errors"] = [_cut_texts(item, ("message", "traceback")) for item in fields["errors"]]
    return fields


def cut_text(text: str, keep_end: bool = False) -> str:
    """`text` within MAX_TEXT characters; a traceback keeps its end, where the error is."""
    if len(text) <= MAX_TEXT:
        return text
    mark = f" … [cut: {len(text)} characters in all] … "
    room = MAX_TEXT - len(mark)
    return mark + text[-room:] if keep_end else text[:room] + mark


def _cut_texts(item: Any, keys: tuple[str, ...]) -> Any:
    if not isinstance(item, dict):
        return item
    return {
        key: cut_text(value, keep_end=key == "traceback") if key in keys and isinstance(value, str) else value
        for key, value in item.items()
    }


def from_value(value: dict[str, Any] | None) -> PluginList | None:
    if value is None:
        return None
    return PluginList(cached=True, probed_at=value.get("probed_at"), **_answer_fields(value))
