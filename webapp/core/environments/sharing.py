"""Projects whose code runs in one environment: several `active` projects, or a `.venv` that
is a link to another project's. A sync of one makes the environment match its own lock and
so removes what the others installed; envboard says so on both, and asks before such a sync.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TypeVar

from .resolver import ResolvedEnvironment

T = TypeVar("T")


def environment_key(env: ResolvedEnvironment | None) -> str | None:
    """One environment, one key, whatever the path or link it is reached by."""
    if env is None:
        return None
    where = env.venv if env.venv is not None else env.python
    if where is None:
        return None
    return os.path.realpath(where)


def shared(items: Iterable[tuple[T, ResolvedEnvironment | None]]) -> dict[T, list[T]]:
    """For each item, the other items whose environment is the same one (absent when alone)."""
    groups: dict[str, list[T]] = {}
    for item, env in items:
        key = environment_key(env)
        if key is not None:
            groups.setdefault(key, []).append(item)
    return {
        item: [other for other in members if other != item]
        for members in groups.values()
        if len(members) > 1
        for item in members
    }
