"""dg's eras, in one table: which releases read the config how, and run code with what.

dg changed its environment rules twice (read from the published wheels' `config.py` and
`context.py`):

- strings: dagster-dg 0.26.0-0.26.10 read `"active"` (the default) or `"persistent_uv"`;
  a table is an error. Code runs in the active environment, or in uv's `.venv`.
- tables: dagster-dg 0.26.11-0.26.17 and dagster-dg-core 1.10.18-1.10.19 read a table with
  exactly one of `active`, `uv_managed`, `path` (`path` accepted, unused); strings are
  still read, with a deprecation warning. Code runs as in the strings era.
- ignored: dagster-dg-core 1.10.20 and later warn about the key and delete it. Code runs
  with `<project>/.venv/bin/python`; from 1.12.4 a `DG_PROJECT_PYTHON_EXECUTABLE` in the
  project's `.env` names the interpreter instead.

This module is the table alone: the eras, the era of a release, the mode changes worth
offering in each, and the dg/dagster version rule. Which dg a project has is found in
`which_dg.py`; what that dg makes of a config is read in `reading.py`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .dg import MODE_ACTIVE, MODE_UV

if TYPE_CHECKING:  # a name for the type only: `envboard mode`'s choices read this table at start
    from .which_dg import DgFound

# eras by name
STRINGS = "strings"
TABLES = "tables"
IGNORED = "ignored"
UNKNOWN = "unknown"

# what a mode change may write, per era: the targets a person is offered
TARGET_REMOVE_KEY = "remove-key"


@dataclass(frozen=True)
class Era:
    name: str
    dg: str  # the releases, in words
    spellings: str  # what that dg accepts, in words
    runs_code_with: str
    targets: tuple[str, ...]  # the mode changes worth offering


ERAS = {
    STRINGS: Era(
        STRINGS,
        "dagster-dg 0.26.0-0.26.10",
        'python_environment = "active" or "persistent_uv" (a table is an error)',
        "the active environment, or uv's .venv for persistent_uv",
        (MODE_ACTIVE, MODE_UV),
    ),
    TABLES: Era(
        TABLES,
        "dagster-dg 0.26.11-0.26.17, dagster-dg-core 1.10.18-1.10.19",
        "a table with exactly one of active, uv_managed, path (strings are deprecated)",
        "the active environment, or uv's .venv for uv_managed",
        (MODE_ACTIVE, MODE_UV),
    ),
    IGNORED: Era(
        IGNORED,
        "dagster-dg-core 1.10.20 and later",
        "none: python_environment is deprecated and ignored",
        "the project's own .venv (or DG_PROJECT_PYTHON_EXECUTABLE in its .env, from 1.12.4)",
        (TARGET_REMOVE_KEY,),
    ),
    UNKNOWN: Era(
        UNKNOWN,
        "no dg found",
        'python_environment = "active" | "persistent_uv" or { active = true } | { uv_managed = true }',
        "the active environment, or uv's .venv for persistent_uv",
        (MODE_ACTIVE, MODE_UV),
    ),
}


def version_tuple(version: str | None) -> tuple[int, ...]:
    parts = []
    for piece in (version or "").split("."):
        match = re.match(r"\d+", piece)
        if not match:
            break
        parts.append(int(match.group()))
    return tuple(parts)


def era_of(found: DgFound) -> Era:
    """The era of a dg release, from the package that reads the config and its version."""
    version = version_tuple(found.version)
    if not version:
        return ERAS[UNKNOWN]
    if found.package == "dagster-dg" and version < (1,):
        return ERAS[STRINGS] if version <= (0, 26, 10) else ERAS[TABLES]
    return ERAS[TABLES] if version < (1, 10, 20) else ERAS[IGNORED]


def older_than_dagster(dg_version: str | None, dagster_version: str | None) -> str | None:
    """dg fails to load when it is older than the environment's dagster (1.x releases match)."""
    dg, dagster = version_tuple(dg_version), version_tuple(dagster_version)
    if not dg or not dagster or dg < (1,) or dg >= dagster:
        return None
    return (
        f"dg {dg_version} is older than dagster {dagster_version} in this environment; dg fails to load "
        f"with it. Upgrade dagster-dg-cli to {dagster_version}."
    )
