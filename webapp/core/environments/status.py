"""uv's word on a project's environment: in sync or not, and what a sync would change.

`uv sync --check` is uv's own dry run: it changes nothing and prints the plan it
refuses to carry out, one line per distribution:

    Would uninstall 2 packages
    Would install 2 packages
     - idna==3.6
     + idna==3.7
     - packaging==26.4
     + six==1.16.0

so the named drift is that plan, not a comparison of envboard's own that could differ
from what `uv sync` really does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..workspace.dg import MODE_UV
from ..workspace.locked import normalise
from .output import last_words
from .processes import run
from .resolver import ResolvedEnvironment, Resolver

STATUS_MISSING = "missing"
STATUS_IN_SYNC = "in_sync"
STATUS_OUT_OF_SYNC = "out_of_sync"
STATUS_UNKNOWN = "unknown"
STATUS_UNMANAGED = "unmanaged"  # active mode: envboard does not manage that environment
STATUS_ERROR = "error"  # the project's config cannot be read (no check runs)
STATUS_CHECKING = "checking"  # uv has not answered yet
# every status a project can show, in the order a filter offers them
STATUSES = (
    STATUS_IN_SYNC,
    STATUS_OUT_OF_SYNC,
    STATUS_MISSING,
    STATUS_UNKNOWN,
    STATUS_UNMANAGED,
    STATUS_ERROR,
    STATUS_CHECKING,
)
STATUS_CHECK_TIMEOUT = 60.0
LOCK_BEHIND = "uv.lock is behind pyproject.toml"  # how a status says so (the lock check reads it too)

ACTION_INSTALL = "install"
ACTION_REMOVE = "remove"
ACTION_CHANGE = "change"
ACTION_REINSTALL = "reinstall"  # same version, installed again (a local project uv rebuilds)

# ` + name==1.2.3`, ` - name==1.2.3`, ` ~ name==1.2.3 (from file:///...)`, and ` + name @ file:///...`
# (a local project rebuilt: uv prints `- name==0.1.0 (from file:///...)` then `+ name @ file:///...`)
_PLAN_LINE = re.compile(r"^\s*([-+~])\s+([A-Za-z0-9][A-Za-z0-9._-]*)(?:==([^\s(]+)|\s+@\s+\S+)")


IN_SYNC_REASON = "the environment matches uv.lock: a sync would change nothing"


@dataclass(frozen=True)
class EnvironmentStatus:
    status: str
    reason: str
    # what `uv sync` would change, read from the plan `uv sync --check` prints: a tuple of
    # {"name", "action", "installed", "locked"}; empty when in sync or not known
    drift: tuple[dict[str, Any], ...] = field(default=(), hash=False)  # dicts cannot be hashed
    said: str = ""  # uv's own last words, where `reason` says it in envboard's
    answered: bool = True  # False when uv was ended before it decided: nothing to remember


def check_status(resolver: Resolver, env: ResolvedEnvironment) -> EnvironmentStatus:
    """missing / in_sync / out_of_sync / unknown from uv's own check; never syncs."""
    if env.mode != MODE_UV:
        if not env.exists:
            return EnvironmentStatus(STATUS_MISSING, f"interpreter {env.python} not found")
        return EnvironmentStatus(
            STATUS_UNMANAGED, "active mode: envboard uses this environment but does not manage it"
        )
    if not env.exists:
        return EnvironmentStatus(STATUS_MISSING, f"no environment at {env.venv} yet; sync to create it")
    problem = resolver.unavailable(env) or resolver.inputs_problem(env)
    if problem:
        return EnvironmentStatus(STATUS_UNKNOWN, problem)
    result = run(
        resolver.uv_invocation(env.project_root, ["sync", "--check"]),
        capture=True,
        timeout=STATUS_CHECK_TIMEOUT,
    )
    text = result.text
    if result.error:  # say what timed out or could not start: the status alone does not
        joiner = " " if result.timed_out else ": "
        return EnvironmentStatus(STATUS_UNKNOWN, f"uv sync --check{joiner}{result.error}")
    if result.exit_code is not None and result.exit_code < 0:  # a signal (an envboard stopping, say)
        stopped = f"uv sync --check was stopped (signal {-result.exit_code}) before it decided"
        return EnvironmentStatus(STATUS_UNKNOWN, stopped, answered=False)
    if result.exit_code == 0:
        return EnvironmentStatus(STATUS_IN_SYNC, IN_SYNC_REASON, said=last_words(text))
    if "outdated" in text or "Would " in text:
        return EnvironmentStatus(
            STATUS_OUT_OF_SYNC, _out_of_sync_reason(text), tuple(parse_plan(text)), said=last_words(text)
        )
    return EnvironmentStatus(STATUS_UNKNOWN, last_words(text) or f"uv exited {result.exit_code}")


def _out_of_sync_reason(text: str) -> str:
    """What uv's plan means for the person looking, in place of its `error: ... run uv sync` line."""
    if "Would update lockfile" in text or "Would create lockfile" in text:
        return f"{LOCK_BEHIND}: a sync updates the lock, then the environment"
    return "the environment differs from uv.lock: a sync brings it in line"


def parse_plan(text: str) -> list[dict[str, Any]]:
    """uv's sync plan as `[{"name", "action", "installed", "locked"}]`, sorted by name.

    `-` lines are what uv would uninstall (the installed version), `+` what it would
    install (the locked one); a name on both is a change; `~` is a reinstall in place.
    """
    removed: dict[str, str] = {}
    added: dict[str, str | None] = {}
    reinstalled: set[str] = set()
    for line in text.splitlines():
        match = _PLAN_LINE.match(line)
        if not match:
            continue
        sign, name, version = match.groups()
        name = normalise(name)
        if sign == "~":
            reinstalled.add(name)
        if sign in "-~" and version is not None:
            removed[name] = version
        if sign in "+~":
            added[name] = version  # None for `+ name @ url`: the same source, built again
    drift = []
    for name in sorted(set(removed) | set(added)):
        installed, locked = removed.get(name), added.get(name)
        if name in added and locked is None:
            locked = installed  # `+ name @ file://...` after `- name==v (from file://...)`
            action = ACTION_REINSTALL if installed is not None else ACTION_INSTALL
        elif name in reinstalled or (installed is not None and installed == locked):
            action = ACTION_REINSTALL
        elif installed is not None and locked is not None:
            action = ACTION_CHANGE
        elif locked is not None:
            action = ACTION_INSTALL
        else:
            action = ACTION_REMOVE
        drift.append({"name": name, "action": action, "installed": installed, "locked": locked})
    return drift


def drift_counts(drift: list[dict[str, Any]]) -> dict[str, int]:
    """{"install": n, "remove": n, "change": n, "reinstall": n} for a badge ("1 to remove, 2 to change")."""
    counts = {ACTION_INSTALL: 0, ACTION_REMOVE: 0, ACTION_CHANGE: 0, ACTION_REINSTALL: 0}
    for item in drift:
        counts[item["action"]] += 1
    return counts
