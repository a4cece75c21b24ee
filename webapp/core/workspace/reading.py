"""What a project's dg makes of its config: the mode, dg's warnings, its fatal readings.

Each era (`eras.py`) accepts its own spellings of `python_environment`, warns in its own
words and dies on its own mistakes; from 1.12.4 a `.env` may name the interpreter. The
reading is kept apart from the era table and from finding the dg (`which_dg.py`) because
it is the one part that reads the config itself. With no dg to ask, `read_mode` reads the
setting leniently (both spellings, no warnings).

Everything here reads files only: no subprocess, no import of dg.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomlkit
import tomlkit.exceptions
import tomlkit.items
from dotenv import dotenv_values

from ..disk.files import ConfigError
from .config import DgConfig, ModeSetting, key_line
from .dg import MODE_ACTIVE, MODE_UV, PYPROJECT
from .eras import IGNORED, STRINGS, TABLES, UNKNOWN, Era, era_of, version_tuple
from .which_dg import NO_DG, DgFound

DOTENV_VARIABLE = "DG_PROJECT_PYTHON_EXECUTABLE"
DOTENV_SINCE = (1, 12, 4)  # first dagster-dg-core whose project_python_executable reads .env
OLD_ENTRY_POINT_GROUPS = ("dagster_dg.library", "dagster_dg.plugin", "dagster_dg_cli.plugin")


@dataclass(frozen=True)
class Reading:
    """A project's environment as its own dg sees it."""

    dg: DgFound
    era: Era
    setting: ModeSetting  # .mode: active (an environment envboard does not manage) or persistent_uv
    environment: str  # in words, e.g. "own .venv (dg 1.13 ignores python_environment)"
    rule: str  # the era's rule that decided, for the why-trace
    python: Path | None = None  # an interpreter named outside the config (.env)
    warnings: tuple[str, ...] = field(default=())  # dg's own words

    @property
    def dg_version(self) -> str | None:
        return self.dg.version


def _short(version: str | None) -> str:
    return ".".join(str(p) for p in version_tuple(version)[:2]) or "?"


def read(config: DgConfig, project_path: Path, dg: DgFound) -> Reading:
    """What `dg` makes of this project's config; a reading that dg dies on raises ConfigError."""
    era = era_of(dg)
    _check_table_layout(config, dg)
    suppressed = _suppressed(config)
    warnings: list[str] = []
    key = f"{config.prefix}project.python_environment"
    table = config.section.get("project", {})
    present = isinstance(table, dict) and "python_environment" in table
    value = table.get("python_environment") if present else None
    line = key_line(config.file.text, "python_environment") if present else None
    raw = _shown(value) if present else None
    if era.name == IGNORED:
        if present and "deprecated_python_environment" not in suppressed:
            warnings.append(f"Setting `{key}` is deprecated. This key can be removed.")
        warnings += _entry_point_warnings(project_path, suppressed)
        spelling = _spelling(value) if present else "default"
        setting = ModeSetting(MODE_UV, spelling, config.path if present else None, key, line, raw)
        named = _dotenv_python(project_path, dg)
        ignored = f"dg {_short(dg.version)} ignores python_environment"
        if named is not None:
            setting = ModeSetting(MODE_ACTIVE, spelling, config.path if present else None, key, line, raw)
            return Reading(
                dg,
                era,
                setting,
                f"the environment of {named} (set by {DOTENV_VARIABLE} in .env; {ignored})",
                f"{dg.label}: {DOTENV_VARIABLE} in the project's .env names the interpreter",
                named,
                tuple(warnings),
            )
        return Reading(
            dg,
            era,
            setting,
            f"own .venv ({ignored})",
            f"{dg.label} runs the project's code with <project>/.venv/bin/python",
            None,
            tuple(warnings),
        )
    if not present:
        setting = ModeSetting(MODE_ACTIVE, "default", None, key, None, None)
        return Reading(
            dg,
            era,
            setting,
            "the active environment (python_environment is not set; the default)",
            f"{dg.label}: python_environment defaults to active",
            None,
            tuple(warnings),
        )
    if era.name == STRINGS:
        if isinstance(value, str) and value in (MODE_ACTIVE, MODE_UV):
            return _reading(dg, era, ModeSetting(value, "string", config.path, key, line, raw), warnings)
        raise ConfigError(
            config.path,
            f'`Invalid value for `{key}`. Expected "active" | "persistent_uv", got `{value}`. '
            f"({dg.label} accepts only the string spelling)",
            line,
        )
    if isinstance(value, str):
        if value not in (MODE_ACTIVE, MODE_UV):
            use = '"active" or "persistent_uv"'
            if era.name == TABLES:
                use = "{ active = true } or { uv_managed = true }"
            raise ConfigError(config.path, f'{key} = "{value}" is not a known mode; use {use}', line)
        if era.name == TABLES and "deprecated_python_environment" not in suppressed:
            flag = "active" if value == MODE_ACTIVE else "uv_managed"
            warnings.append(
                f'Setting `{key} = "{value}"` is deprecated. Please update to:\n\n'
                f"    [{key}]\n    {flag} = true"
            )
        return _reading(dg, era, ModeSetting(value, "string", config.path, key, line, raw), warnings)
    if not isinstance(value, dict):
        raise ConfigError(
            config.path, f'{key} = {value!r} is not a known mode; use "active" or "persistent_uv"', line
        )
    allowed = {"active": bool, "uv_managed": bool} | ({"path": str} if era.name == TABLES else {})
    unknown = sorted(set(value) - set(allowed))
    if unknown:
        raise ConfigError(config.path, f"{key} = {raw}: unknown key {unknown[0]!r}; {_accepted(era)}", line)
    for name, kind in allowed.items():
        if name in value and not isinstance(value[name], kind):
            what = "values must be true or false" if kind is bool else f"{name} must be a string"
            raise ConfigError(config.path, f"{key} = {raw}: {what}; {_accepted(era)}", line)
    chosen = [k for k, v in value.items() if v]
    if len(chosen) != 1 and era.name == TABLES:
        raise ConfigError(  # dg's own words
            config.path,
            f"Found conflicting settings in `{key}`. If this section is defined, exactly one of the "
            f"following keys must be set: active, path, uv_managed (it says {raw})",
            line,
        )
    if len(chosen) != 1:
        reason = "conflicting: both are true" if chosen else "no mode is true"
        raise ConfigError(config.path, f"{key} = {raw}: {reason}; {_accepted(era)}", line)
    mode = MODE_UV if chosen[0] == "uv_managed" else MODE_ACTIVE
    reading = _reading(dg, era, ModeSetting(mode, "table", config.path, key, line, raw), warnings)
    if chosen[0] == "path":
        return Reading(
            dg,
            era,
            reading.setting,
            f"the active environment ({dg.label} accepts path but does not use it)",
            f"{dg.label}: python_environment.path is accepted, unused; the active environment runs the code",
            None,
            tuple(warnings),
        )
    return reading


def _reading(dg: DgFound, era: Era, setting: ModeSetting, warnings: list[str]) -> Reading:
    if setting.mode == MODE_UV:
        words = "uv's .venv (persistent_uv)"
        rule = f"{dg.label}: {setting.key} = {setting.raw} runs code in uv's environment"
    else:
        words = "the active environment"
        rule = f"{dg.label}: {setting.key} = {setting.raw} runs code in the active environment"
    if era.name == UNKNOWN:
        rule += " (no dg found; read with both spellings allowed)"
    return Reading(dg, era, setting, words, rule, None, tuple(warnings))


def _accepted(era: Era) -> str:
    if era.name == UNKNOWN:
        return (
            'dg accepts python_environment = "active" or "persistent_uv" '
            "(or the table form { active = true } / { uv_managed = true })"
        )
    return f"{era.dg} accepts {era.spellings}"


def _spelling(value: Any) -> str:
    return "table" if isinstance(value, dict) else "string"


def _shown(value: Any) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_scalar(v)}" for k, v in value.items()) + " }"
    return _scalar(value)


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return repr(value)


def _suppressed(config: DgConfig) -> set[str]:
    cli = config.section.get("cli", {})
    names = cli.get("suppress_warnings", []) if isinstance(cli, dict) else []
    return {n for n in names if isinstance(n, str)} if isinstance(names, list) else set()


def _check_table_layout(config: DgConfig, dg: DgFound) -> None:
    """Every dg takes `tool.dg` through tomlkit and insists on a Table: a table written in
    pieces (dotted keys under [tool] next to a [tool.dg.*] header, or split around another
    table) is an OutOfOrderTableProxy, an inline one an InlineTable, and dg dies on either."""
    if not config.prefix or dg.version is None:
        return
    try:
        node = tomlkit.parse(config.file.text)["tool"]["dg"]
    except (tomlkit.exceptions.TOMLKitError, KeyError, TypeError, ValueError):
        return  # tomllib read it; a tomlkit quirk is not dg's verdict
    if not isinstance(node, tomlkit.items.Table):
        raise ConfigError(
            config.path,
            f"TypeError: Expected 'tool.dg' to be Table, but got {type(node).__name__} instead. "
            f"({dg.label} cannot read this layout: write the dg settings under [tool.dg] and "
            "[tool.dg.project] headers)",
            key_line(config.file.text, "dg"),
        )


def _entry_point_warnings(project_path: Path, suppressed: set[str]) -> list[str]:
    if "deprecated_dagster_dg_library_entry_point" in suppressed:
        return []
    from ..disk.files import read_toml

    try:
        data = read_toml(project_path / PYPROJECT).data
    except ConfigError:
        return []
    project = data.get("project", {})
    groups = project.get("entry-points", {}) if isinstance(project, dict) else {}
    if not isinstance(groups, dict):
        return []
    return [
        textwrap.dedent(f"""\
            Found deprecated `{group}` entry point group in:
                {project_path / PYPROJECT}

            Please update the group name to `dagster_dg_cli.registry_modules`. Package reinstallation is
            required because entry points are registered at install time.""")
        for group in OLD_ENTRY_POINT_GROUPS
        if group in groups
    ]


def _dotenv_python(project_path: Path, dg: DgFound) -> Path | None:
    """dg's `project_python_executable` backdoor: `.env` names the interpreter (relative to the root)."""
    if version_tuple(dg.version) < DOTENV_SINCE:
        return None
    env_file = project_path / ".env"
    if not env_file.is_file():
        return None
    try:
        value = dotenv_values(env_file).get(DOTENV_VARIABLE)  # the parser dg itself uses
    except (OSError, UnicodeDecodeError):
        return None
    return project_path / value if value else None


def read_mode(config: DgConfig) -> ModeSetting:
    """The mode setting as read with no dg to ask (both spellings); a bad value raises ConfigError."""
    return read(config, config.path.parent, NO_DG).setting
