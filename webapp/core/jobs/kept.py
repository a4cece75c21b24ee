"""The files a job replaced, kept beside its log so that it can be undone byte for byte.

Before a sync, an upgrade or a rollback changes a project, the files it may rewrite
(`pyproject.toml` and the `uv.lock` that governs it) are copied into
`<logs>/<job id>.kept/`, with a manifest saying which were absent (a rollback removes
those). Restoring writes each one back atomically with its permission bits.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..disk.files import atomic_write

MANIFEST = "manifest.json"


class KeptError(Exception):
    """The kept files of a job are missing or unreadable; the message says which."""


@dataclass(frozen=True)
class KeptFile:
    original: Path
    copy: Path | None  # None: the file did not exist before the job
    mode: int


def kept_dir(log_path: str | Path) -> Path:
    """Where a job's replaced files live: beside its log, named after it."""
    log = Path(log_path)
    return log.with_name(log.stem + ".kept")


def keep(log_path: str | Path, files: list[Path]) -> Path:
    """Copy `files` as they are now beside the job's log; returns the folder."""
    folder = kept_dir(log_path)
    folder.mkdir(parents=True, exist_ok=True)
    manifest = []
    for index, original in enumerate(dict.fromkeys(files)):  # a file named twice is kept once
        entry: dict[str, object] = {"path": str(original), "copy": None, "mode": 0o644}
        if original.is_file():
            copy = folder / f"{index}-{original.name}"
            shutil.copyfile(original, copy)
            entry["copy"] = copy.name
            entry["mode"] = original.stat().st_mode & 0o7777
        manifest.append(entry)
    atomic_write(folder / MANIFEST, json.dumps(manifest, indent=1).encode())
    return folder


def kept_files(log_path: str | Path | None) -> list[KeptFile]:
    """What a job kept; [] when it kept nothing (an older job, or a mode change)."""
    if not log_path:
        return []
    folder = kept_dir(log_path)
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        raise KeptError(f"the files kept by this job cannot be read: {exc}") from exc
    return [
        KeptFile(Path(e["path"]), folder / e["copy"] if e["copy"] else None, int(e["mode"])) for e in manifest
    ]


def restore(files: list[KeptFile]) -> list[Path]:
    """Put every kept file back exactly (removing those that were absent); returns what changed."""
    for item in files:  # read every copy first: a missing one must not leave half a restore
        if item.copy is not None and not item.copy.is_file():
            raise KeptError(f"the kept copy of {item.original} is gone ({item.copy})")
    changed = []
    for item in files:
        if item.copy is None:
            if item.original.exists():
                item.original.unlink()
                changed.append(item.original)
            continue
        data = item.copy.read_bytes()
        try:
            same = item.original.read_bytes() == data
        except OSError:
            same = False
        if not same:
            atomic_write(item.original, data, mode=item.mode)
            changed.append(item.original)
    return changed
