"""Previewing a mode change: which changes are offered, and the bounded work of making one.

A preview reads the config file and asks `mode_edit.py` for the new text. A GET can ask for
one, and tomlkit can be slow, so the work is bounded here: a size limit, a key count, a CPU
budget per edit, a few previews at once, and a memo by the bytes' hash (refusals too). This
is separate from the edit itself because none of it changes what is written, only whether
and how cheaply the server agrees to compute it.
"""

from __future__ import annotations

import hashlib
import sys
import threading
import time
import tomllib
from pathlib import Path
from typing import Any

from ..disk.files import UTF8_BOM, ConfigError, read_regular
from ..disk.stamps import Memo
from .dg import DG_TOML, MODE_ACTIVE, MODES
from .eras import IGNORED, STRINGS, TABLES, TARGET_REMOVE_KEY
from .mode_edit import _edited
from .modes import ModeChange, ModeChangeError, _refuse_symlink
from .scan import Project


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
