"""Reading and writing the files envboard touches: TOML configs in, atomic writes out.

One place for the rules every reader shares (a BOM is dropped, a file over the size
limit is not a config, every failure names the file and line) and for the one way
envboard replaces a file (a temporary file beside it, fsync, then `os.replace`).
Parsed files are remembered by their stamp, so a file is parsed once until it changes.
"""

from __future__ import annotations

import hashlib
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
MAX_LOCK_BYTES = 32 * 1024 * 1024  # the uv.lock of a very large workspace is a few MB
MAX_ANSWER_BYTES = 16 * 1024 * 1024  # what the probe writes (summaries and errors are cut to 4 KB)
MAX_SMALL_BYTES = 64 * 1024  # a pyvenv.cfg, a request file
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


_KINDS = (
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISDIR, "a folder"),
)


def _open_regular(path: Path, limit: int, within: Path | None) -> tuple[int, os.stat_result]:
    """An open descriptor of a regular file no larger than `limit`, else a located ConfigError.

    Opened with O_NONBLOCK, so a FIFO answers at once instead of waiting for a writer, and
    its kind is decided by fstat on what was opened (not a stat before, which a rename can
    outrun). A device, a FIFO or a sparse giant is refused before a byte is read.
    """
    if within is not None:
        real, boundary = os.path.realpath(path), os.path.realpath(within)
        if real != boundary and not real.startswith(boundary.rstrip(os.sep) + os.sep):
            raise ConfigError(path, f"is a symlink to {real}, outside {within}; not followed")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise ConfigError(path, "file not found") from None
    except OSError as exc:
        raise ConfigError(path, f"cannot be read: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = next((name for test, name in _KINDS if test(info.st_mode)), "not a regular file")
            raise ConfigError(path, f"is {kind}, not a regular file; envboard reads only regular files")
        if info.st_size > limit:
            raise ConfigError(path, f"is {_size(info.st_size)}, more than envboard reads ({_size(limit)})")
    except BaseException:
        os.close(fd)
        raise
    return fd, info


def _size(count: int) -> str:
    return f"{count / 1048576:.1f} MB" if count >= 1048576 else f"{count} bytes"


def read_regular(path: Path | str, limit: int, *, within: Path | None = None) -> bytes:
    """The bytes of a regular file of at most `limit` bytes; anything else is a located ConfigError.

    Every reader of a file someone else controls (configs, uv.lock, pyvenv.cfg, the
    probe's answer) goes through here: a FIFO, a device or a huge file is one project's
    error, never a blocked thread or an exhausted server. `within`: the file's real
    path must lie inside this folder (a symlink out of it is not followed).
    """
    path = Path(path)
    fd, _ = _open_regular(path, limit, within)
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(limit + 1)  # it may have grown since fstat
    if len(data) > limit:
        raise ConfigError(path, f"is more than envboard reads ({_size(limit)})")
    return data


def hash_regular(path: Path | str, limit: int, *, within: Path | None = None) -> str:
    """sha256 of a regular file of at most `limit` bytes, read in chunks; else a located ConfigError."""
    path = Path(path)
    fd, _ = _open_regular(path, limit, within)
    digest = hashlib.sha256()
    seen = 0
    with os.fdopen(fd, "rb") as handle:
        while chunk := handle.read(1024 * 1024):
            seen += len(chunk)
            if seen > limit:
                raise ConfigError(path, f"is more than envboard reads ({_size(limit)})")
            digest.update(chunk)
    return digest.hexdigest()


def regular_file_problem(path: Path | str, limit: int, *, within: Path | None = None) -> str | None:
    """Why `path` would be refused by read_regular ("file: reason"), None when it is fine or absent.

    Checked before a command that reads the file itself (uv reads uv.lock) is started: a
    FIFO would block uv until its timeout.
    """
    try:
        fd, _ = _open_regular(Path(path), limit, within)
    except ConfigError as exc:
        return None if exc.message == "file not found" else str(exc)
    os.close(fd)
    return None


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
    raw = read_regular(path, MAX_CONFIG_BYTES)
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
