"""Changing a project's environment mode: a previewed, verified, atomic edit of one key.

Everything else in the file stays byte for byte: comments, key order, quoting, blank
lines, line endings. What is written follows the project's dg (`eras.py`): dagster-dg
0.26.0-0.26.10 read only strings, 0.26.11-0.26.17 want the table form; with no dg found the
file's own spelling is kept (`python_environment = "persistent_uv"` where the key is absent).
From dagster-dg-core 1.10.20 dg ignores the key: the one change offered is removing it.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import sys
import threading
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomlkit
import tomlkit.exceptions
from tomlkit.items import InlineTable, Table

from ..disk.files import MAX_CONFIG_BYTES, UTF8_BOM, ConfigError, atomic_write, read_regular
from ..disk.stamps import Memo
from .config import TABLE_ACTIVE, TABLE_UV
from .dg import DG_TOML, MODE_ACTIVE, MODE_UV, MODES
from .eras import IGNORED, STRINGS, TABLES, TARGET_REMOVE_KEY
from .scan import Project


class ModeChangeError(Exception):
    """The change cannot be made; nothing was written."""


class StaleEdit(ModeChangeError):
    """The file changed since the preview; nothing was written."""


class PreviewsBusy(ModeChangeError):
    """Too many previews are being computed right now; try again in a moment."""


# A preview parses, edits and re-parses the whole file (tomlkit is slow on big files), and a
# GET can ask for one: bound what anybody can make the server do.
MAX_PREVIEW_BYTES = 1024 * 1024  # tomlkit takes seconds on larger files
# tomlkit's work grows with the square of the keys in some layouts (3,000 dotted keys in 41 KB
# took 97 s of CPU; 400 under one table take 8 s here). So a file with more keys than any real
# config is refused after a linear count with tomllib, and every edit gets a CPU budget: past
# it, tomlkit is stopped (a profile hook raises inside it) and the preview is refused.
MAX_PREVIEW_KEYS = 1000
PREVIEW_CPU_SECONDS = 2.0
MAX_PREVIEWS_AT_ONCE = 3
PREVIEW_WAIT = 2.0  # seconds a preview waits for a free slot before "busy"
_PREVIEW_CACHE_SIZE = 64
_PREVIEW_CACHE_BYTES = 8 * 1024 * 1024  # a few big files, or every usual one
_preview_slots = threading.BoundedSemaphore(MAX_PREVIEWS_AT_ONCE)
# (sha256 of the bytes, target, dg.toml?) -> the new text, or why it was refused
_previews = Memo(_PREVIEW_CACHE_SIZE, _PREVIEW_CACHE_BYTES)


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


def preview(project: Project, target: str) -> ModeChange:
    """The exact new text of the config file, verified; raises ModeChangeError if unsafe."""
    if project.error or project.config_file is None:
        raise ModeChangeError(f"the project's config cannot be read: {project.error}")
    reading = project.reading
    era = reading.era.name if reading else None
    if era == IGNORED and target != TARGET_REMOVE_KEY:
        raise ModeChangeError(
            f"{reading.dg.label} ignores python_environment (it only warns that the key is deprecated): "
            f"writing {target!r} would change nothing dg does. It runs {reading.environment}; "
            f"remove the deprecated key instead (to={TARGET_REMOVE_KEY})"
        )
    if target == TARGET_REMOVE_KEY:
        if era != IGNORED:
            raise ModeChangeError(
                f"{reading.dg.label if reading else 'this dg'} reads python_environment: choose active or "
                "persistent_uv instead of removing it"
            )
        if project.mode is None or project.mode.spelling == "default":
            raise ModeChangeError("python_environment is not set; there is nothing to remove")
    elif target not in MODES:
        raise ModeChangeError(f"unknown mode {target!r}; use active or persistent_uv")
    # the spelling the project's dg accepts without a word: strings for 0.26.0-0.26.10, tables after
    spelling = {STRINGS: "string", TABLES: "table"}.get(era or "")
    path = project.config_file
    _refuse_symlink(path)
    try:
        size = path.stat().st_size
        if size > MAX_PREVIEW_BYTES:
            raise ModeChangeError(
                f"{path} is {size / 1048576:.1f} MB; envboard edits config files up to "
                f"{MAX_PREVIEW_BYTES // 1048576} MB. Change python_environment by hand."
            )
        raw = read_regular(path, MAX_PREVIEW_BYTES)
    except OSError as exc:
        raise ModeChangeError(f"{path} cannot be read: {exc.strerror}") from exc
    except ConfigError as exc:  # a FIFO, a device, or it grew past the limit since stat
        raise ModeChangeError(str(exc)) from exc
    if len(raw) > MAX_PREVIEW_BYTES:  # grew between stat and read
        raise ModeChangeError(f"{path} is larger than {MAX_PREVIEW_BYTES // 1048576} MB; change it by hand")
    bom = raw.startswith(UTF8_BOM)
    try:
        text = raw[len(UTF8_BOM) :].decode("utf-8") if bom else raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ModeChangeError(f"{path} is not UTF-8") from exc
    digest = hashlib.sha256(raw).hexdigest()
    in_dg_toml = path.name == DG_TOML
    known = _previews.get(
        (digest, target, in_dg_toml, spelling),
        lambda: _edited_or_refusal(path, text, target, in_dg_toml, spelling),
        weight=lambda answer: len(answer) if isinstance(answer, str) else 1,
    )
    if isinstance(known, ModeChangeError):
        raise ModeChangeError(str(known))
    new_text = known
    current = project.mode.mode if project.mode else MODE_ACTIVE
    return ModeChange(path, current, target, text, new_text, digest)


def _edited_or_refusal(
    path: Path, text: str, target: str, in_dg_toml: bool, spelling: str | None
) -> str | ModeChangeError:
    """The new text, or why not: a refusal is kept too, so the same bytes are refused again
    without the work. A busy server is not kept: that is not an answer about the bytes."""
    keys = _count_keys(text)
    if keys > MAX_PREVIEW_KEYS:
        return ModeChangeError(
            f"{path} has {keys:,} keys; envboard previews mode changes of config files up to "
            f"{MAX_PREVIEW_KEYS:,} keys (the work grows faster than the file). Change "
            "python_environment by hand."
        )
    if not _preview_slots.acquire(timeout=PREVIEW_WAIT):
        raise PreviewsBusy(
            f"{MAX_PREVIEWS_AT_ONCE} mode previews are being prepared right now; try again in a moment"
        )
    try:
        return _within_cpu_budget(
            lambda: _edited(path, text, target, in_dg_toml=in_dg_toml, spelling=spelling), PREVIEW_CPU_SECONDS
        )
    except _OutOfTime:
        return ModeChangeError(
            f"{path} is laid out in a way that takes envboard's TOML editor more than "
            f"{PREVIEW_CPU_SECONDS:g} s of CPU to edit (many dotted keys); nothing was written. "
            "Change python_environment by hand."
        )
    except ModeChangeError as exc:
        return exc
    finally:
        _preview_slots.release()


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


class _OutOfTime(BaseException):
    """Raised inside tomlkit by the profile hook; a BaseException, so no `except Exception` keeps it."""


def _within_cpu_budget(work, seconds: float):
    """`work()`, stopped with _OutOfTime once this thread has used `seconds` of CPU on it.

    Python cannot stop a thread from outside, and a process per preview would cost more than
    most previews; a profile hook sees every function call of this thread only, and looks
    at the clock every 1,024 of them.
    """
    deadline = time.thread_time() + seconds
    calls = 0

    def hook(frame, event, arg) -> None:
        nonlocal calls
        if event == "call":
            calls += 1
            if not calls % 1024 and time.thread_time() > deadline:
                raise _OutOfTime

    previous = sys.getprofile()
    sys.setprofile(hook)
    try:
        return work()
    finally:
        sys.setprofile(previous)


def _count_keys(text: str) -> int:
    """Keys and tables in a TOML text (0 when it does not parse: tomlkit then refuses it at once)."""
    try:
        data: Any = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError):
        return 0
    count, pending = 0, [data]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            count += len(value)
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    return count


def _refuse_symlink(path: Path) -> None:
    """Writing replaces the file: through a symlink that would cut the link or edit its target."""
    if path.is_symlink():
        raise ModeChangeError(
            f"{path} is a symlink (to {os.readlink(path)}); envboard does not write through links. "
            "Change python_environment in the file it points to by hand."
        )


def apply(change: ModeChange, expected_hash: str) -> None:
    """Write the change if the file is still what the preview (and the user) saw.

    Callers hold the project's lock (`JobManager.change_mode` does), so nothing else
    of envboard's writes between the check and the rename.
    """
    path = change.file
    _refuse_symlink(path)  # it may have become one since the preview
    try:
        current = read_regular(path, MAX_CONFIG_BYTES)
    except ConfigError as exc:
        raise ModeChangeError(str(exc)) from exc
    digest = hashlib.sha256(current).hexdigest()
    if digest != expected_hash or digest != change.file_hash:
        raise StaleEdit(f"{path} changed since the preview; nothing was written. Review the change again.")
    data = change.new_text.encode("utf-8")
    if current.startswith(UTF8_BOM):
        data = UTF8_BOM + data
    try:
        atomic_write(path, data)
    except OSError as exc:
        reason = exc.strerror or exc
        raise ModeChangeError(f"{path} cannot be written: {reason}; nothing was changed") from exc


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
