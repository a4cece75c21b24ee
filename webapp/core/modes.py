"""Changing a project's environment mode: a previewed, verified, atomic edit of one key.

Everything else in the file stays byte for byte: comments, key order, quoting, blank
lines, line endings. The spelling the file uses is kept (string or table); where the
key is absent, the seed's `python_environment = "persistent_uv"` spelling is written.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import tempfile
import threading
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomlkit
import tomlkit.exceptions
from tomlkit.items import InlineTable, Table

from .config import DG_TOML, MODE_ACTIVE, MODE_UV, MODES, UTF8_BOM
from .workspace import Project

_file_locks: dict[str, threading.Lock] = {}
_file_locks_guard = threading.Lock()


class ModeChangeError(Exception):
    """The change cannot be made; nothing was written."""


class StaleEdit(ModeChangeError):
    """The file changed since the preview; nothing was written."""


@dataclass(frozen=True)
class ModeChange:
    file: Path
    current_mode: str
    target_mode: str
    old_text: str
    new_text: str
    file_hash: str  # sha256 of the file's bytes the preview was made from

    @property
    def diff(self) -> str:
        name = self.file.name
        return "".join(
            difflib.unified_diff(
                self.old_text.splitlines(keepends=True),
                self.new_text.splitlines(keepends=True),
                f"a/{name}",
                f"b/{name}",
            )
        )

    @property
    def changes_anything(self) -> bool:
        return self.old_text != self.new_text


def file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def preview(project: Project, target: str) -> ModeChange:
    """The exact new text of the config file, verified; raises ModeChangeError if unsafe."""
    if target not in MODES:
        raise ModeChangeError(f"unknown mode {target!r}; use active or persistent_uv")
    if project.error or project.config_file is None:
        raise ModeChangeError(f"the project's config cannot be read: {project.error}")
    path = project.config_file
    raw = path.read_bytes()
    bom = raw.startswith(UTF8_BOM)
    try:
        text = raw[len(UTF8_BOM) :].decode("utf-8") if bom else raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ModeChangeError(f"{path} is not UTF-8") from exc
    try:
        new_text = _rewrite(text, target, in_dg_toml=path.name == DG_TOML)
    except (ValueError, TypeError, KeyError, tomlkit.exceptions.TOMLKitError) as exc:
        # tomlkit refuses some layouts (e.g. a table inside an inline table)
        raise ModeChangeError(
            f"{path.name} is laid out in a way envboard cannot edit safely ({exc}); nothing was written. "
            "Edit the file by hand."
        ) from exc
    _verify(path, text, new_text, target, in_dg_toml=path.name == DG_TOML)
    current = project.mode.mode if project.mode else MODE_ACTIVE
    return ModeChange(path, current, target, text, new_text, hashlib.sha256(raw).hexdigest())


def apply(change: ModeChange, expected_hash: str) -> None:
    """Write the change if the file is still what the preview (and the user) saw."""
    path = change.file
    with _lock_for(path):
        try:
            current = file_hash(path)
        except OSError as exc:
            raise ModeChangeError(f"{path} cannot be read: {exc.strerror}") from exc
        if current != expected_hash or current != change.file_hash:
            raise StaleEdit(
                f"{path} changed since the preview; nothing was written. Review the change again."
            )
        data = change.new_text.encode("utf-8")
        if path.read_bytes().startswith(UTF8_BOM):
            data = UTF8_BOM + data
        _atomic_write(path, data)


def _lock_for(path: Path) -> threading.Lock:
    with _file_locks_guard:
        return _file_locks.setdefault(str(path.resolve()), threading.Lock())


def _atomic_write(path: Path, data: bytes) -> None:
    mode = path.stat().st_mode & 0o7777
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".envboard-tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _rewrite(text: str, target: str, *, in_dg_toml: bool) -> str:
    crlf = "\r\n" in text
    document = tomlkit.parse(text)
    root: Any = document
    if not in_dg_toml:
        root = document["tool"]["dg"]  # present: the scan found the project there
    if "project" not in root:
        _add_project_table(root, target)
    else:
        project = root["project"]
        if "python_environment" not in project:
            project["python_environment"] = target
        else:
            current = project["python_environment"]
            if isinstance(current, InlineTable):
                project["python_environment"] = _inline_mode(current, target)
            elif isinstance(current, Table | dict):
                _set_table_mode(current, target)
            else:
                # assigning keeps the key, its position and the comment after the value
                project["python_environment"] = _same_quoting(current, target)
    new_text = tomlkit.dumps(document)
    if new_text.endswith("\n\n") and not text.endswith("\n\n"):
        new_text = new_text[:-1]
    if crlf:
        new_text = new_text.replace("\r\n", "\n").replace("\n", "\r\n")
    return new_text


def _add_project_table(root: Any, target: str) -> None:
    """A new `project` table in the spelling of the dg table that holds it."""
    if isinstance(root, InlineTable):  # tool = { dg = { ... } }: a table cannot go inside
        table = tomlkit.inline_table()
        table["python_environment"] = target
        root["project"] = table
    elif isinstance(root, Table) and root.is_super_table():
        # `dg.directory_type = ...` under [tool] (or `tool.dg.x = ...`): a [dg.project]
        # header would land at the top level, so stay dotted: dg.project.python_environment
        root.append(tomlkit.key(["project", "python_environment"]), target)
    else:
        table = tomlkit.table()
        table.add("python_environment", target)
        table.add(tomlkit.nl())  # keep a blank line before whatever table follows
        root.append("project", table)


def _same_quoting(current: Any, target: str) -> Any:
    """Keep literal 'single' quotes if the file used them."""
    literal = getattr(getattr(current, "type", None), "name", "") == "SLL"
    string = tomlkit.string(target, literal=literal)
    comment = getattr(current, "trivia", None)
    if comment is not None:
        string.trivia.comment = comment.comment
        string.trivia.comment_ws = comment.comment_ws
    return string


def _inline_mode(current: InlineTable, target: str) -> InlineTable:
    """A fresh `{ uv_managed = true }` / `{ active = true }` with the old trailing comment."""
    key = "uv_managed" if target == MODE_UV else "active"
    table = tomlkit.parse(f"value = {{ {key} = true }}")["value"]  # spaced as people write it
    table.trivia.comment = current.trivia.comment
    table.trivia.comment_ws = current.trivia.comment_ws
    return table


def _set_table_mode(table: Any, target: str) -> None:
    chosen = "uv_managed" if target == MODE_UV else "active"
    other = "active" if target == MODE_UV else "uv_managed"
    table[chosen] = True
    if other in table:
        del table[other]


def _verify(path: Path, old_text: str, new_text: str, target: str, *, in_dg_toml: bool) -> None:
    """Parse the result with tomllib: only the mode key may differ, and it must read as target."""
    try:
        old = tomllib.loads(old_text)
        new = tomllib.loads(new_text)
    except tomllib.TOMLDecodeError as exc:
        raise ModeChangeError(
            f"the edited {path.name} would not be valid TOML ({exc}); nothing was written"
        ) from exc
    old_section = old if in_dg_toml else old["tool"]["dg"]
    new_section = new if in_dg_toml else new["tool"]["dg"]
    value = new_section.get("project", {}).get("python_environment")
    reads_as = _mode_of(value)
    if reads_as != target:
        raise ModeChangeError(f"the edit would read as {reads_as!r}, not {target!r}; nothing was written")
    old_section.get("project", {}).pop("python_environment", None)
    new_section["project"].pop("python_environment", None)
    if not old_section.get("project"):
        old_section.pop("project", None)
    if not new_section.get("project"):
        new_section.pop("project", None)
    if old != new:
        raise ModeChangeError(
            f"editing {path.name} would change more than the mode key (a layout tomlkit cannot edit "
            "safely); nothing was written. Edit the file by hand."
        )


def _mode_of(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        chosen = [k for k, v in value.items() if v is True]
        if chosen == ["active"]:
            return MODE_ACTIVE
        if chosen == ["uv_managed"]:
            return MODE_UV
    return None
