"""A mode change, and writing it: the change a preview made, applied atomically or not at all.

Everything else in the file stays byte for byte: comments, key order, quoting, blank
lines, line endings. What is written follows the project's dg (`eras.py`): dagster-dg
0.26.0-0.26.10 read only strings, 0.26.11-0.26.17 want the table form; with no dg found the
file's own spelling is kept (`python_environment = "persistent_uv"` where the key is absent).
From dagster-dg-core 1.10.20 dg ignores the key: the one change offered is removing it.

The change is made in three places, one concept each: `mode_preview.py` decides whether a
change is offered and bounds the work a preview may cost; `mode_edit.py` rewrites the text
with tomlkit and verifies it; this module holds the change, its errors, and `apply`, which
writes it only if the file is still what the preview saw.
"""

from __future__ import annotations

import difflib
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from ..disk.files import MAX_CONFIG_BYTES, UTF8_BOM, ConfigError, atomic_write, read_regular


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
