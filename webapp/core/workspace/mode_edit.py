"""The tomlkit edit of one key, `python_environment`, verified with tomllib.

`_edited` rewrites the text in the spelling the project's dg accepts, keeping everything
else byte for byte, then parses old and new with tomllib: only the mode key may differ, and
it must read as the target. Separate from the preview (`mode_preview.py`) because this is
the editing itself, with no limits, memo or file reads; the preview runs it under a budget.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import tomlkit
import tomlkit.exceptions
from tomlkit.items import InlineTable, Table

from .config import TABLE_ACTIVE, TABLE_UV
from .dg import MODE_ACTIVE, MODE_UV
from .eras import TARGET_REMOVE_KEY
from .modes import ModeChangeError


def _edited(path: Path, text: str, target: str, *, in_dg_toml: bool, spelling: str | None = None) -> str:
    """The new text, verified to differ from the old in the mode key only."""
    try:
        new_text = _rewrite(text, target, in_dg_toml=in_dg_toml, spelling=spelling)
    except (ValueError, TypeError, KeyError, AttributeError, tomlkit.exceptions.TOMLKitError) as exc:
        # tomlkit refuses some layouts (e.g. a table inside an inline table)
        raise ModeChangeError(
            f"{path.name} is laid out in a way envboard cannot edit safely ({exc}); nothing was written. "
            "Edit the file by hand."
        ) from exc
    _verify(path, text, new_text, target, in_dg_toml=in_dg_toml)
    return new_text


def _rewrite(text: str, target: str, *, in_dg_toml: bool, spelling: str | None = None) -> str:
    crlf = "\r\n" in text
    document = tomlkit.parse(text)
    root: Any = document
    if not in_dg_toml:
        root = document["tool"]["dg"]  # present: the scan found the project there
    if target == TARGET_REMOVE_KEY:
        del root["project"]["python_environment"]  # present: preview checked
    elif spelling == "table" and _is_string(root.get("project", {}).get("python_environment")):
        root["project"]["python_environment"] = _inline_mode(root["project"]["python_environment"], target)
    elif spelling == "string" and isinstance(root.get("project", {}).get("python_environment"), Table | dict):
        root["project"]["python_environment"] = _same_quoting(None, target)
    elif spelling == "table" and ("project" not in root or "python_environment" not in root["project"]):
        if "project" not in root:
            _add_project_table(root, target)
        _as_table_spelling(root["project"], target)
    elif "project" not in root:
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


def _is_string(value: Any) -> bool:
    return isinstance(value, str)  # tomlkit's String is a str


def _as_table_spelling(project: Any, target: str) -> None:
    """A new key, in the table spelling: `python_environment = { uv_managed = true }`."""
    key = TABLE_UV if target == MODE_UV else TABLE_ACTIVE
    table = tomlkit.parse(f"value = {{ {key} = true }}")["value"]  # spaced as people write it
    table.trivia.trail = "\n"
    project["python_environment"] = table


def _same_quoting(current: Any, target: str) -> Any:
    """Keep literal 'single' quotes if the file used them."""
    literal = getattr(getattr(current, "type", None), "name", "") == "SLL"
    string = tomlkit.string(target, literal=literal)
    comment = getattr(current, "trivia", None)
    if comment is not None:
        string.trivia.comment = comment.comment
        string.trivia.comment_ws = comment.comment_ws
    return string


def _inline_mode(current: Any, target: str) -> InlineTable:
    """A fresh `{ uv_managed = true }` / `{ active = true }` with the old trailing comment."""
    key = TABLE_UV if target == MODE_UV else TABLE_ACTIVE
    table = tomlkit.parse(f"value = {{ {key} = true }}")["value"]  # spaced as people write it
    table.trivia.comment = current.trivia.comment
    table.trivia.comment_ws = current.trivia.comment_ws
    return table


def _set_table_mode(table: Any, target: str) -> None:
    chosen = TABLE_UV if target == MODE_UV else TABLE_ACTIVE
    other = TABLE_ACTIVE if target == MODE_UV else TABLE_UV
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
    reads_as = _mode_of(value) if value is not None or target != TARGET_REMOVE_KEY else TARGET_REMOVE_KEY
    if reads_as != target:
        raise ModeChangeError(f"the edit would read as {reads_as!r}, not {target!r}; nothing was written")
    old_section.get("project", {}).pop("python_environment", None)
    new_section.get("project", {}).pop("python_environment", None)
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
        if chosen == [TABLE_ACTIVE]:
            return MODE_ACTIVE
        if chosen == [TABLE_UV]:
            return MODE_UV
    return None
