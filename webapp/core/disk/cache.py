"""An on-disk cache that cannot lie: each entry records what its answer depended on.

dg's old cache was keyed on uv.lock's mtime and went stale after `uv pip install`.
Here an entry is valid only while every dependency it recorded is unchanged: the
interpreter, the mode, the config files' contents, uv.lock's content, the listing of
every site-packages folder (one entry per installed distribution), and the source
files and package folders of modules imported from outside site-packages.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

from .files import MAX_LOCK_BYTES, ConfigError, atomic_write, hash_regular
from .stamps import file_stamp, remembered, stamp


def content_hash(path: Path | str) -> str:
    """sha256 of a regular file's bytes, remembered per stamp so a big uv.lock is read once."""
    if stamp(path) is None:
        return "absent"
    return remembered("sha256", path, _sha256)


def _sha256(path: Path) -> str:
    try:
        return hash_regular(path, MAX_LOCK_BYTES)
    except ConfigError as exc:
        # a FIFO, a device or a giant is never read; its project shows the reader's error
        return "absent" if exc.message == "file not found" else "unreadable"


def folder_stamp(path: Path | str) -> str:
    """A folder's own mtime: changes when an entry is added, removed or renamed in it."""
    try:
        return str(os.stat(path).st_mtime_ns)
    except OSError:
        return "absent"


def listing_stamp(path: Path | str) -> str:
    """The names in a folder, less those that running its code adds (bytecode caches): a
    source folder's stamp that the first run of a check does not change by itself."""
    if stamp(path) is None:
        return "absent"
    return remembered("listing", path, _listing)


def _listing(path: Path) -> str:
    try:
        names = sorted(name for name in os.listdir(path) if not _made_by_running(name))
    except OSError:
        return "absent"
    return hashlib.sha256("\n".join(names).encode("utf-8", "surrogateescape")).hexdigest()


def _made_by_running(name: str) -> bool:
    """Bytecode caches, and the Dagster homes dg makes without DAGSTER_HOME."""
    return name == "__pycache__" or name.startswith(".tmp_dagster_home")


def site_packages_stamp(path: Path | str) -> str:
    """What is installed in a site-packages folder.

    Each distribution has a `.dist-info` folder that installers write anew on every
    install, upgrade or reinstall; `.pth` files carry editable installs. Installers
    add, remove or rename entries of the folder, which changes its mtime, so the
    listing is read again only when that changed (many projects share one folder).
    """
    if stamp(path) is None:
        return "absent"
    return remembered("site-packages", path, _list_site_packages)


def _list_site_packages(path: Path | str) -> str:
    try:
        entries = sorted(os.scandir(path), key=lambda e: e.name)
    except OSError:
        return "absent"
    digest = hashlib.sha256()
    for entry in entries:
        if _made_by_running(entry.name):
            continue  # the bytecode of top-level modules, written the first time they are imported
        digest.update(entry.name.encode("utf-8", "surrogateescape"))
        if entry.name.endswith((".dist-info", ".egg-info", ".pth", ".egg-link")):
            try:
                info = entry.stat()
                digest.update(f":{info.st_mtime_ns}:{info.st_ino}".encode())
            except OSError:
                digest.update(b":gone")
        digest.update(b"\n")
    return digest.hexdigest()


STAMPERS = {
    "file": file_stamp,
    "content": content_hash,
    "folder": folder_stamp,
    "listing": listing_stamp,
    "site": site_packages_stamp,
}


def stamp_all(dependencies: dict[str, list[str]]) -> dict[str, dict[str, str]]:
    """Stamp every dependency: {"file": [paths], "site": [paths], ...} to their stamps."""
    return {
        kind: {path: STAMPERS[kind](path) for path in sorted(set(paths))}
        for kind, paths in dependencies.items()
    }


class DependencyCache:
    """A folder of JSON entries, each with its recorded dependencies and their stamps."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        # what this process stored, so answers survive a read-only or full cache folder
        self._memory: dict[str, dict[str, Any]] = {}
        # entries read from disk, kept decoded while their file's stamp is unchanged: another
        # process (a shell's `envboard sync`) may replace one, so each read costs one stat
        self._disk: dict[str, tuple[str, dict[str, Any] | None]] = {}
        self._paths: dict[str, Path] = {}

    def _path(self, name: str) -> Path:
        path = self._paths.get(name)
        if path is None:
            path = self.folder / f"{hashlib.sha256(name.encode()).hexdigest()[:32]}.json"
            self._paths[name] = path
        return path

    def _entry(self, name: str, key: str) -> dict[str, Any] | None:
        entry = self._memory.get(name)
        if entry is None:
            entry = self._from_disk(name)
        if not isinstance(entry, dict) or entry.get("key") != key:
            return None
        return entry

    def _from_disk(self, name: str) -> dict[str, Any] | None:
        path = self._path(name)
        stamp = file_stamp(path)
        known = self._disk.get(name)
        if known is not None and known[0] == stamp:
            return known[1]
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            entry = None
        self._disk[name] = (stamp, entry)
        return entry

    def watched_folders(self) -> set[str]:
        """The folders whose entries every cached answer depends on (for a file-system watcher)."""
        folders: set[str] = set()
        # list() copies in one step, so a store from a pool thread cannot resize them under us
        entries = list(self._memory.values()) + [entry for _, entry in list(self._disk.values())]
        for entry in entries:
            if not isinstance(entry, dict):
                continue
            for kind, stamps in entry.get("stamps", {}).items():
                for path in stamps:
                    folders.add(path if kind in ("folder", "site") else os.path.dirname(path))
        return folders

    def last_stored(self, name: str, key: str) -> dict[str, Any] | None:
        """The stored value even if a dependency changed since (for comparisons, never display)."""
        entry = self._entry(name, key)
        return entry.get("value") if entry else None

    def load(self, name: str, key: str) -> dict[str, Any] | None:
        """The stored value if its key matches and no dependency changed, else None."""
        entry = self._entry(name, key)
        if entry is None:
            return None
        recorded = entry.get("stamps", {})
        dependencies = {kind: list(stamps) for kind, stamps in recorded.items()}
        if stamp_all(dependencies) != recorded:
            return None
        value = entry.get("value")
        if isinstance(value, dict):
            value = {**value, "cached_at": entry.get("stored_at")}
        return value

    def store(
        self,
        name: str,
        key: str,
        value: dict[str, Any],
        dependencies: dict[str, list[str]],
        stamps: dict[str, dict[str, str]] | None = None,
    ) -> None:
        """Write atomically; `stamps` taken before the work began protect against races."""
        entry = {
            "key": key,
            "stored_at": time.time(),
            "stamps": stamps if stamps is not None else stamp_all(dependencies),
            "value": value,
        }
        self._memory[name] = entry
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            atomic_write(self._path(name), json.dumps(entry).encode(), mode=0o600)
        except OSError:
            pass  # a cache that cannot be written only costs time

    def clear(self) -> int:
        self._memory.clear()
        self._disk.clear()
        removed = 0
        if not self.folder.is_dir():
            return 0
        for path in self.folder.glob("*.json"):
            try:
                path.unlink()
                removed += 1
            except OSError:
                pass
        return removed
