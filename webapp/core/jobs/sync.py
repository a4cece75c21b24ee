"""One `uv sync` of a project, run into its job's log: the command, how it ended, what it changed.

The job manager decides when a sync runs (queue, lock, record); this module is what
running one means, so the command line, the pages and the history all describe the
same command.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..environments.output import failure_message
from ..environments.processes import JOB_MARKER, Cancellation, Invocation, RunResult, run
from ..environments.resolver import ResolvedEnvironment, Resolver
from ..live.board import Board
from ..probe.runner import PluginList, package_diff, plugin_diff
from ..workspace.scan import Project
from .history import CANCELLED, FAILED, SUCCEEDED

SYNC_TIMEOUT = 3600.0
SYNC_ARGS = ("sync", "--color", "always")


def sync_invocation(resolver: Resolver, project_path: Path, job_id: str | None = None) -> Invocation:
    """`uv sync` at the project root, as dg ran uv; a job's run carries its marker."""
    base = resolver.uv_invocation(project_path, list(SYNC_ARGS))
    if job_id is None:
        return base
    return Invocation(base.argv, base.cwd, {**base.env, JOB_MARKER: job_id})


def run_into_log(
    invocation: Invocation, log_path: str, *, cancel: Cancellation, term_grace: float, on_start
) -> RunResult:
    """The command line, then everything it prints, then why it did not finish (if so)."""
    with open(log_path, "ab") as sink:
        sink.write(f"$ {invocation.display()}\n".encode())
        sink.flush()
        result = run(
            invocation,
            sink=sink,
            cancel=cancel,
            timeout=SYNC_TIMEOUT,
            term_grace=term_grace,
            on_start=on_start,
        )
        if result.error and not result.cancelled:
            sink.write(f"\n[envboard] {result.error}\n".encode())
    return result


def how_it_ended(result: RunResult, log_path: str | None) -> tuple[str, str | None]:
    """The job's status and, when it did not succeed, why in words (uv's own where it said)."""
    if result.cancelled:
        return CANCELLED, "cancelled"
    if result.ok:
        return SUCCEEDED, None
    return FAILED, result.error or failure_message(result.exit_code, log_path)


def what_it_changed(
    board: Board, project: Project, env: ResolvedEnvironment, before: PluginList | None
) -> dict[str, Any]:
    """The plugins and packages a successful sync added, removed or changed (probed again)."""
    after = board.probe.probe(project, env)
    return {"plugin_diff": plugin_diff(before, after), "package_diff": package_diff(before, after)}
