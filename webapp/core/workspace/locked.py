"""What a project's `uv.lock` pins, read as a file (tomllib, `[[package]] name/version`).

Two readers need it: the eras (which dg a project has before its environment exists) and
the environments (what the lock says against what is installed).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from ..disk.files import MAX_LOCK_BYTES, ConfigError, read_regular
from ..disk.stamps import remembered


def normalise(name: str) -> str:
    """PEP 503 normalised distribution name, as uv and the probe report them."""
    return re.sub(r"[-_.]+", "-", name).lower()


def read_locked_versions(lock: Path) -> dict[str, str]:
    """name -> version of every `[[package]]` in a uv.lock; {} when absent or unreadable.

    A lock that forks by platform may pin two versions of one name: both are kept,
    joined by ", ", since either may be the one installed.
    """
    return dict(remembered("uv.lock pins", lock, _read_locked_versions))


def _read_locked_versions(lock: Path) -> dict[str, str]:
    try:
        # never through a symlink out of its folder: pins of a file elsewhere are not this project's
        data = tomllib.loads(read_regular(lock, MAX_LOCK_BYTES, within=lock.parent).decode("utf-8"))
    except (ConfigError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return {}
    versions: dict[str, list[str]] = {}
    packages = data.get("package", [])
    for package in packages if isinstance(packages, list) else []:
        if not isinstance(package, dict):
            continue
        name, version = package.get("name"), package.get("version")
        if isinstance(name, str) and isinstance(version, str):
            known = versions.setdefault(normalise(name), [])
            if version not in known:
                known.append(version)
    return {name: ", ".join(found) for name, found in versions.items()}
