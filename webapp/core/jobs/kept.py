"""The files a job replaced, kept beside its log so that it can be undone byte for byte.

Before a sync, an upgrade or a rollback changes a project, the files it may rewrite
(`pyproject.toml` and the `uv.lock` that governs it) are kept in `<logs>/<job id>.kept/`,
with a manifest saying which were absent (a rollback removes those). Restoring writes
each one back atomically with its permission bits.

Each distinct content is stored once, under its SHA-256 in `<logs>/kept-files/`, and
hard-linked into the folders of the jobs that kept it: a thousand syncs of an unchanged
lock cost one copy. The link count is the reference count, so a content no job folder
links to any more is found with one `stat` and removed, and no lock is needed between
processes (a content removed just before a job links it is stored again).

Retention (`Retention`): the files of the last `jobs` jobs of each project are kept, and
those of any job younger than `days`; older ones are pruned when a job ends and when a
server starts. History offers "Roll back" only while a job's files are kept.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from ..disk.files import atomic_write
from .history import JobRecord

MANIFEST = "manifest.json"
STORE = "kept-files"  # beside the job logs: every distinct content kept, once
KEEPING_ACTIONS = ("sync", "upgrade", "rollback")  # the jobs that keep what they replace, when they start


class KeptError(Exception):
    """The kept files of a job are missing or unreadable; the message says which."""


@dataclass(frozen=True)
class Retention:
    """Whose kept files stay: the last `jobs` of each project, and any job younger than `days`."""

    jobs: int = 20
    days: float = 14.0

    def describe(self) -> str:
        return f"the last {self.jobs} jobs of each project and any from the last {self.days:g} days"


@dataclass(frozen=True)
class KeptFile:
    original: Path
    copy: Path | None  # None: the file did not exist before the job
    mode: int


def kept_dir(log_path: str | Path) -> Path:
    """Where a job's replaced files live: beside its log, named after it."""
    log = Path(log_path)
    return log.with_name(log.stem + ".kept")


def is_kept(log_path: str | Path | None) -> bool:
    """The job's files are still kept (its manifest is there)."""
    return bool(log_path) and (kept_dir(log_path) / MANIFEST).is_file()


def no_longer_kept(record: JobRecord) -> bool:
    """The job kept the files it replaced once, and they have been pruned since."""
    return (
        record.finished
        and record.action in KEEPING_ACTIONS
        and record.started_at is not None  # it keeps them before it starts
        and not is_kept(record.log_path)
    )


def keep(log_path: str | Path, files: list[Path]) -> Path:
    """Keep `files` as they are now for the job whose log this is; returns its folder."""
    folder = kept_dir(log_path)
    folder.mkdir(parents=True, exist_ok=True)
    store = folder.parent / STORE
    manifest = []
    for index, original in enumerate(dict.fromkeys(files)):  # a file named twice is kept once
        entry: dict[str, object] = {"path": str(original), "copy": None, "mode": 0o644}
        if original.is_file():
            copy = folder / f"{index}-{original.name}"
            _store_and_link(store, original.read_bytes(), copy)
            entry["copy"] = copy.name
            entry["mode"] = original.stat().st_mode & 0o7777
        manifest.append(entry)
    atomic_write(folder / MANIFEST, json.dumps(manifest, indent=1).encode())
    return folder


def _store_and_link(store: Path, data: bytes, copy: Path) -> None:
    """`copy` is a hard link to the stored content (stored now if new); a plain copy where
    the file system has no hard links for it."""
    store.mkdir(exist_ok=True)
    blob = store / hashlib.sha256(data).hexdigest()
    for _ in range(3):  # a prune may remove the content between our look and our link
        if not blob.is_file():
            atomic_write(blob, data, mode=0o444)  # read-only: it is every linking job's copy
        try:
            os.link(blob, copy)
            return
        except FileNotFoundError:
            continue
        except OSError:  # no hard links on this file system, or too many to this content
            break
    atomic_write(copy, data, mode=0o444)


def kept_files(log_path: str | Path | None) -> list[KeptFile]:
    """What a job kept; [] when it kept nothing (an older job, a mode change, or pruned)."""
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


def prune(records: list[JobRecord], retention: Retention, now: float | None = None) -> list[str]:
    """Remove the kept files of the ended jobs beyond `retention` (`records`: newest first, of
    any projects); returns the pruned jobs' ids. `sweep` then frees what they alone held.

    A running job counts among the last N (it kept its files when it started): a job prunes
    before its end is recorded, so whoever sees it ended sees the rule applied."""
    now = time.time() if now is None else now
    seen: dict[str, int] = {}  # project id -> its jobs with kept files so far, newest first
    pruned = []
    for record in records:
        if record.started_at is None or not record.log_path or record.action not in KEEPING_ACTIONS:
            continue
        rank = seen[record.project_id] = seen.get(record.project_id, 0) + 1
        if rank <= retention.jobs or now - record.queued_at < retention.days * 86400:
            continue
        if not record.finished:
            continue  # an older job still running (another process's): its files stay
        folder = kept_dir(record.log_path)
        if folder.is_dir():
            shutil.rmtree(folder, ignore_errors=True)
            pruned.append(record.id)
    return pruned


def sweep(store: Path) -> int:
    """Remove the stored contents no job's folder links to; returns how many."""
    removed = 0
    with contextlib.suppress(FileNotFoundError):
        for blob in store.iterdir():
            if blob.name.startswith("."):  # a write in progress (atomic_write's temporary file)
                continue
            with contextlib.suppress(FileNotFoundError):
                if blob.stat().st_nlink <= 1:
                    blob.unlink()
                    removed += 1
    return removed
