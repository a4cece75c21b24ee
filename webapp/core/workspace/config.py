"""Reading dg configuration: `dg.toml` and the `[tool.dg]` table of `pyproject.toml`.

Everything here is read-only and never raises for bad user files: a file that cannot
be read becomes a `ConfigError` naming the file and, where known, the line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..disk.files import MAX_CONFIG_BYTES, ConfigError, TomlFile, read_regular, read_toml
from .dg import DG_TOML, PYPROJECT

# the later table spellings: { active = true } and { uv_managed = true }
TABLE_ACTIVE = "active"
TABLE_UV = "uv_managed"


@dataclass(frozen=True)
class DgConfig:
    """The dg settings of one folder: which file they came from and the dg table."""

    file: TomlFile
    section: dict[str, Any]  # top level of dg.toml, or [tool.dg] of pyproject.toml
    prefix: str  # "" for dg.toml, "tool.dg." for pyproject.toml

    @property
    def path(self) -> Path:
        return self.file.path

    @property
    def directory_type(self) -> Any:
        return self.section.get("directory_type")


@dataclass(frozen=True)
class ModeSetting:
    """A project's environment mode and exactly where it was read."""

    mode: str
    spelling: str  # "default", "string" or "table"
    file: Path | None
    key: str
    line: int | None
    raw: str | None  # the value as written, for display


def read_dg_config(folder: Path) -> DgConfig | None:
    """The dg config of a folder, or None when it has none.

    A `dg.toml` wins over a `pyproject.toml` in the same folder, as in dg.
    """
    dg_toml = folder / DG_TOML
    # present but not a regular file (a FIFO, a device): read_toml says what it is, for this project
    if _present(dg_toml):
        parsed = read_toml(dg_toml)
        return DgConfig(file=parsed, section=parsed.data, prefix="")
    pyproject = folder / PYPROJECT
    if _present(pyproject):
        parsed = read_toml(pyproject)
        tool = parsed.data.get("tool")
        section = tool.get("dg") if isinstance(tool, dict) else None
        if isinstance(section, dict):
            return DgConfig(file=parsed, section=section, prefix="tool.dg.")
        if section is not None:
            raise ConfigError(pyproject, "[tool.dg] must be a table", key_line(parsed.text, "dg"))
    return None


def _present(path: Path) -> bool:
    return path.exists() and not path.is_dir()


# Every way TOML can name a `dg` key: bare, "quoted" or 'literal', followed by the dot,
# `=` or `]` that makes it a key, or any \u escape (a basic-string key may spell `dg` in
# escapes). It may admit files with no dg table; it must never miss one: a parse decides.
_MAYBE_DG_KEY = re.compile(rb"""(?:^|[\s.\[{,])(?:dg|"dg"|'dg')\s*[.=\]]|\\[uU]""", re.MULTILINE)

_DG_HEADER = re.compile(rb"^[ \t]*\[[ \t]*tool[ \t]*\.[ \t]*dg[ \t]*[\].]", re.MULTILINE)


def has_dg_config(folder: Path) -> bool:
    """Does this folder hold dg settings, in any spelling TOML allows?

    Used while walking a tree, so a pyproject.toml without anything that could be a
    `dg` key is rejected from its bytes alone; one that could is parsed. A file that
    looks like it has a dg key but does not parse counts, so the scan reports its error.
    """
    if (folder / DG_TOML).is_file():
        return True
    pyproject = folder / PYPROJECT
    try:
        head = read_regular(pyproject, MAX_CONFIG_BYTES)
    except ConfigError as exc:
        # absent or unreadable: no config; a FIFO, a device or a giant: the scan says what it is
        return not (exc.message == "file not found" or exc.message.startswith("cannot be read"))
    if not _MAYBE_DG_KEY.search(head, 0, MAX_CONFIG_BYTES):
        return False
    if _DG_HEADER.search(head) and b'"""' not in head and b"'''" not in head:
        # a `[tool.dg]` header line outside any multi-line string opens the table (or the
        # file is broken, which also counts): the common spelling needs no parse
        return True
    try:
        data = read_toml(pyproject).data  # remembered: the scan's own read parses nothing again
    except ConfigError:
        return True
    tool = data.get("tool")
    return isinstance(tool, dict) and "dg" in tool


def project_table(config: DgConfig) -> dict[str, Any]:
    table = config.section.get("project", {})
    return table if isinstance(table, dict) else {}


def key_line(text: str, key: str) -> int | None:
    """The first line on which `key` is assigned or opens a table, for error messages."""
    pattern = re.compile(rf"^\s*(?:\[+[^\]]*\b{re.escape(key)}\b|[\w.\"' -]*\b{re.escape(key)}\b\s*[=.])")
    for number, line in enumerate(text.splitlines(), start=1):
        if pattern.match(line):
            return number
    return None
