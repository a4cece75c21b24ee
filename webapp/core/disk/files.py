"""Reading and writing the files envboard touches: TOML configs in, atomic writes out.

One place for the rules every reader shares (a BOM is dropped, a file over the size
limit is not a config, every failure names the file and line) and for the one way
envboard replaces a file (a temporary file beside it, fsync, then `os.replace`).
Parsed files are remembered by their stamp, so a file is parsed once until it changes.
"""

from __future__ import annotations

import os
import re
import stat
import tempfile
import time
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .stamps import remembered

MAX_CONFIG_BYTES = 4 * 1024 * 1024  # a dg config larger than this is not a config
UTF8_BOM = b"\xef\xbb\xbf"
TEMP_SUFFIX = ".envboard-tmp"  # left behind only by a kill between write and rename
_LINE_COL = re.compile(r"\(at line (\d+), column (\d+)\)")


class ConfigError(Exception):
    """A file that cannot be used, with where the problem is."""

    def __init__(self, path: Path, message: str, line: int | None = None) -> None:
        self.path = path
        self.message = message
        self.line = line
        where = f"{path}:{line}" if line else str(path)
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class TomlFile:
    """A parsed TOML file and the text it came from. Shared between readers: never mutate `data`."""

    path: Path
    text: str
    data: dict[str, Any]


def read_toml(path: Path) -> TomlFile:
    """Parse one TOML file; every failure is a ConfigError with file and line.

    Answers (failures included) are remembered per file stamp, so a workspace scan or
    a monitor pass parses each file once, and again only after it changed.
    """
    try:
        size = os.stat(path).st_size
    except FileNotFoundError:
        raise ConfigError(path, "file not found") from None
    except OSError as exc:
        raise ConfigError(path, f"cannot be read: {exc.strerror or exc}") from None
    known = remembered("toml", path, lambda p: _parse_or_refusal(p, size), weight=_toml_weight)
    if isinstance(known, ConfigError):
        raise known
    return known


def _parse_or_refusal(path: Path, size: int) -> TomlFile | ConfigError:
    try:
        return _parse(path, size)
    except ConfigError as exc:
        return exc  # a broken file stays broken until it changes: remembered too


def _toml_weight(answer: TomlFile | ConfigError) -> int:
    return 2 * len(answer.text) if isinstance(answer, TomlFile) else 1


def _parse(path: Path, size: int) -> TomlFile:
    if size > MAX_CONFIG_BYTES:
        raise ConfigError(path, f"file is {size} bytes, larger than a config file can be (4 MiB)")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(path, f"cannot be read: {exc.strerror or exc}") from None
    if raw.startswith(UTF8_BOM):
        raw = raw[len(UTF8_BOM) :]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ConfigError(path, f"not valid UTF-8 (byte 0x{raw[exc.start]:02x})", line) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        match = _LINE_COL.search(message)
        line = int(match.group(1)) if match else None
        if line is None and "end of document" in message:
            line = max(1, len(text.splitlines()))
        message = _LINE_COL.sub("", message).replace("(at end of document)", "at the end").strip()
        raise ConfigError(path, f"invalid TOML: {message}", line) from None
    except RecursionError:
        raise ConfigError(path, "invalid TOML: nested too deeply") from None
    return TomlFile(path=path, text=text, data=data)


def atomic_write(path: Path, data: bytes, *, mode: int | None = None) -> None:
    """Replace `path` with `data` in one step: readers see the old file or the new one.

    The file keeps its permission bits unless `mode` is given.
    """
    if mode is None:
        try:
            mode = path.stat().st_mode & 0o7777
        except FileNotFoundError:
            mode = 0o644
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
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


TEMP_FILE = re.compile(r"^\.(pyproject\.toml|dg\.toml)\.[A-Za-z0-9_]{8}" + re.escape(TEMP_SUFFIX) + "$")
STALE_TEMP_AGE = 60.0  # seconds: a write takes milliseconds; younger ones may be mid-write elsewhere


def remove_stale_temp_files(folders: Iterable[Path]) -> list[Path]:
    """Delete the temporary config files a killed write left in `folders` (only this module's names).

    Called on start; returns what it removed so that it can be said.
    """
    removed = []
    now = time.time()
    for folder in folders:
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            if not TEMP_FILE.match(entry.name):
                continue
            try:
                info = entry.stat(follow_symlinks=False)
                if not stat.S_ISREG(info.st_mode) or now - info.st_mtime < STALE_TEMP_AGE:
                    continue
                os.unlink(entry.path)
            except OSError:
                continue
            removed.append(Path(entry.path))
    return removed
