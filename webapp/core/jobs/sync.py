"""What one sync of a project is, from start to end, in one place.

The job manager decides *when* a sync runs (queue, join, the project's lock, the
history record); this module is *what* it does, in order:

1. `prepare`: the project's config as it is now (a mode change may have landed while
   the job waited for the lock), whether it can be synced, its environment, what it
   held before (for the diff) and the lock's hash before.
2. `run`: `uv sync` at the project root, as dg ran uv, streamed into the job's log.
3. After a success: probe again and say what the sync added, removed or changed, and
   the lock's hash after. uv's status is checked again in the background (the board's
   one check per project), never as part of the job: after a failure it may have to build
   what the sync could not, and the job has ended by then.
4. After a success: check that the project's definitions load in the synced environment
   (`dg check defs`), its command line and output streamed into the job's log and its verdict
   in the job's detail. A cancel during the check ends it: the job is `cancelled` ("synced;
   the definitions check was cancelled"), the check `not_checked`, and no verdict is stored.
5. After a success not cancelled, with `--dagster-url`: that Dagster webserver is asked to
   reload the project's code location (whatever the check said: the environment under it has
   changed), after the job has ended and freed the project's lock (`telling.py`); its answer
   comes into the log and the detail when it comes.

The command line, the pages and the history all describe this same command.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..environments.leftovers import JOB_MARKER
from ..environments.output import failure_message
from ..environments.processes import Cancellation, Invocation, RunResult, run
from ..environments.resolver import ResolvedEnvironment, Resolver
from ..environments.uv import governing_lock, lock_hash
from ..live.board import Board
from ..probe.answer import PluginList
from ..probe.diff import package_diff, plugin_diff
from ..probe.loadverdict import LoadCheck
from ..workspace.scan import Project
from .history import CANCELLED, FAILED, SUCCEEDED
from .log import JobLog

SYNC_TIMEOUT = 3600.0
SYNC_ARGS = ("sync", "--color", "always")  # in colour for the log's page (web/ansi.py)


def sync_args(environ: Mapping[str, str]) -> list[str]:
    """`uv sync`'s arguments: uv's own choice of colour when NO_COLOR (https://no-color.org) asks
    for none, so neither the log nor the command shown on the page forces it."""
    return ["sync"] if environ.get("NO_COLOR") else list(SYNC_ARGS)


class SyncRefused(Exception):
    """The sync cannot go ahead; the message says why (recorded as the job's failure)."""


def sync_invocation(resolver: Resolver, project_path: Path, job_id: str | None = None) -> Invocation:
    """`uv sync` at the project root, as dg ran uv; a job's run carries its marker."""
    base = resolver.uv_invocation(project_path, sync_args(resolver.environ))
    if job_id is None:
        return base
    return replace(base, env={**base.env, JOB_MARKER: job_id})


@dataclass(frozen=True)
class Prepared:
    """A sync about to run: the project as configured now, and what it held before."""

    project: Project
    env: ResolvedEnvironment
    before: PluginList | None  # None: not known; none yet (no environment): a first sync lists all
    lock_before: str | None


@dataclass
class Outcome:
    """How a sync ended, as the history records it."""

    status: str
    exit_code: int | None
    duration: float  # the whole job: uv, then the probe of what it changed
    cancelled: bool
    fields: dict[str, Any] = field(default_factory=dict)  # message, detail, lock_after
    reload: bool = False  # the Dagster webserver is asked to reload, once the project's lock is free


def prepare(board: Board, project_id: str, can_sync: Callable[[Project], str | None]) -> Prepared:
    """Read the project again (under its lock) and decide whether and how it is synced."""
    board.rescan()
    project = board.project(project_id)
    if project is None:
        raise SyncRefused("not synced: the project is no longer in the workspace")
    problem = can_sync(project)
    if problem:
        raise SyncRefused(f"not synced: {problem}")
    env = board.resolve(project)
    if env is None:
        raise SyncRefused("the project's config has an error")
    # uv would wait on a FIFO until the job's timeout, or read a device forever; nor may the
    # files kept for a rollback be read from one
    refused = board.resolver.inputs_problem(env)
    if refused:
        raise SyncRefused(f"not synced: {refused}")
    before = board.probe.last_known(project, env) if env.exists else PluginList()
    return Prepared(project, env, before, lock_hash(project, env))


def replaceable_files(prepared: Prepared) -> list[Path]:
    """What a sync (or an upgrade) may rewrite: the project's pyproject.toml and the governing lock."""
    project, env = prepared.project, prepared.env
    root = env.uv_root or project.path
    return [project.path / "pyproject.toml", root / "pyproject.toml", governing_lock(project, env)]


def run_in_log(
    invocation: Invocation,
    log: JobLog,
    job_id: str,
    *,
    cancel: Cancellation,
    term_grace: float,
    on_start: Callable[[int], Any],
) -> RunResult:
    """One command of a job: the command line, then its output, streamed into the job's log;
    it carries the job's marker, so a leftover of it is found and ended after a crash."""
    marked = replace(invocation, env={**invocation.env, JOB_MARKER: job_id})
    with log.sink() as sink:
        sink.write(f"$ {marked.display()}\n".encode())
        sink.flush()
        result = run(
            marked, sink=sink, cancel=cancel, timeout=SYNC_TIMEOUT, term_grace=term_grace, on_start=on_start
        )
        if result.error and not result.cancelled:
            sink.write(f"\n[envboard] {result.error}\n".encode())
    return result


def run_sync(
    board: Board,
    prepared: Prepared,
    log: JobLog,
    job_id: str,
    *,
    cancel: Cancellation,
    term_grace: float,
    on_start: Callable[[int], Any],
) -> Outcome:
    """Run `uv sync` into the log; after a success, what it changed and the status again."""
    started = time.time()
    project, env = prepared.project, prepared.env
    invocation = sync_invocation(board.resolver, project.path)
    result = run_in_log(invocation, log, job_id, cancel=cancel, term_grace=term_grace, on_start=on_start)
    if result.cancelled:
        return Outcome(CANCELLED, result.exit_code, time.time() - started, True, {"message": "cancelled"})
    status, message = _how_it_ended(result, log)
    detail: dict[str, Any] = {}
    if status == SUCCEEDED and env.exists:
        after = board.probe_now(project, env)
        detail = {
            "plugin_diff": plugin_diff(prepared.before, after),
            "package_diff": package_diff(prepared.before, after),
        }
    board.check_status_soon(project, env, by_job=True)  # what uv says now comes when it comes
    cancelled = False
    if status == SUCCEEDED:
        detail["load_check"] = _check_definitions(board, prepared, log, cancel)
        if detail["load_check"]["loads"] is False:  # the sync did its part; the job says what is broken
            message = "synced, but the definitions do not load: " + detail["load_check"]["error"]["message"]
        elif cancel.requested:  # the environment did change: the job says so, and that it stopped there
            status, message, cancelled = CANCELLED, "synced; the definitions check was cancelled", True
    fields = {"message": message, "detail": detail, "lock_after": lock_hash(project, env)}
    # the webserver is told once the lock is released, and only of a sync that went to its end
    return Outcome(status, result.exit_code, time.time() - started, cancelled, fields, status == SUCCEEDED)


def _check_definitions(board: Board, prepared: Prepared, log: JobLog, cancel: Cancellation) -> dict[str, Any]:
    """Part of the sync: does the project load in what the sync made? (stored in the cache too)"""
    with log.sink() as sink:  # the command line as it starts, its output as it comes

        def counting(_: LoadCheck) -> None:
            sink.write(b"\n[envboard] dg's check says it loads; counting the definitions (dg list defs)\n")
            sink.flush()

        verdict = board.definitions.check(prepared.project, prepared.env, cancel, sink, counting)
    said = "loads" if verdict.loads else "do not load" if verdict.loads is False else "not checked"
    why = f" ({verdict.why})" if verdict.loads is None else ""
    log.append(f"\n[envboard] definitions: {said}{why}\n")
    return {k: v for k, v in verdict.to_json().items() if k not in ("output", "keys")}


def _how_it_ended(result: RunResult, log: JobLog) -> tuple[str, str | None]:
    """The job's status and, when it did not succeed, why in words (uv's own where it said)."""
    if result.ok:
        return SUCCEEDED, None
    return FAILED, result.error or failure_message(result.exit_code, log.tail())
