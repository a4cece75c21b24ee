"""Dagster's bytecode, compiled once in a run for the real environments of the same release.

uv links every installed file to its cache, so the same release's `dagster/_core/...py` is one
file (one inode) in every environment the tests build, yet Python compiled it again in each:
about 3 s of CPU for the first `dg` of each of some sixteen environments. An environment built
later takes, as hard links, the compiled files of those built before it (wherever their tests
have compiled them by then) for every source that is the very same file. Nothing else is taken:
a source of another release, or one an upgrade replaced, is another file, and Python checks each
compiled file against its source's size and time anyway, and writes a new one beside it (a new
file, never into the shared one). (uv links only within one file system: where its cache is on
another one than the temporary folder, the files are copies and nothing is shared.)
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path


def share_bytecode(venv: Path, donors: Path) -> int:
    """Links into `venv` what the environments registered in `donors` compiled for the same
    sources, then registers `venv` for the ones built after it; returns how many it linked."""
    donors.mkdir(parents=True, exist_ok=True)
    linked = 0
    for entry in sorted(donors.iterdir()):
        if entry.name.startswith("."):  # one being written
            continue
        with contextlib.suppress(OSError):
            linked += _borrow(Path(entry.read_text()), venv)
    # written whole under another name, then renamed: another worker may be reading the folder
    name = hashlib.sha256(str(venv).encode()).hexdigest()[:16]
    (donors / f".{name}").write_text(str(venv))
    os.replace(donors / f".{name}", donors / name)
    return linked


def _borrow(donor: Path, venv: Path) -> int:
    linked = 0
    for folder, _, files in os.walk(donor / "lib"):
        if not folder.endswith("__pycache__"):
            continue
        cache = Path(folder)
        target_cache = venv / cache.relative_to(donor)
        for compiled in files:
            if not compiled.endswith(".pyc"):  # Python's own temporary file, being written
                continue
            source = cache.parent / (compiled.split(".", 1)[0] + ".py")
            target_source = target_cache.parent / source.name
            with contextlib.suppress(OSError):
                if not _same_file(source, target_source) or (target_cache / compiled).exists():
                    continue
                target_cache.mkdir(exist_ok=True)
                os.link(cache / compiled, target_cache / compiled)
                linked += 1
    return linked


def _same_file(a: Path, b: Path) -> bool:
    first, second = a.stat(), b.stat()
    return (first.st_dev, first.st_ino) == (second.st_dev, second.st_ino)
