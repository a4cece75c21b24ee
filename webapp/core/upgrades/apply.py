"""Applying an approved upgrade to one project, and rolling a job back, as jobs.

An upgrade runs, in order and into the job's log: the constraint edit the plan named
(tomlkit, the file's layout kept, written atomically), `uv lock --upgrade-package ...`,
`uv sync`, then the verifications. If any step fails (or the job is cancelled), the
files the job kept before it began (`jobs/kept.py`) are put back byte for byte and the
environment is synced back to them, and the job says so.

A rollback restores the files another job kept and syncs; it keeps its own, so it can
be rolled back in turn.

Verifications are a list, each a function of what the upgrade left that returns a
failure in words or None: the sync succeeded (checked before them), and the probe of
the new environment reports no plugin failure it did not report before. The
definitions load check is meant to join them as one more entry.
"""

from __future__ import annotations

import functools
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import tomlkit

from ..disk.files import UTF8_BOM, atomic_write
from ..environments.processes import Cancellation, Invocation, RunResult
from ..environments.uv import lock_hash
from ..jobs.errors import JobError
from ..jobs.history import CANCELLED, FAILED, SUCCEEDED, JobRecord
from ..jobs.kept import KeptError, kept_files, no_longer_kept, restore
from ..jobs.log import JobLog
from ..jobs.manager import JobManager
from ..jobs.sync import Outcome, Prepared, run_in_log, sync_invocation
from ..live.board import Board
from ..probe.answer import PluginList
from ..probe.diff import package_diff, plugin_diff
from ..workspace.scan import Project
from .plan import Edit, lock_invocation
from .target import Target


class StepFailed(Exception):
    """One step of an upgrade failed; the message says which and why."""


@dataclass(frozen=True)
class UpgradeRequest:
    target: Target
    installed: tuple[str, ...]  # the project's installed packages (the family's members come from here)
    edit: Edit | None = None  # approved with the plan: made before relocking

    def to_json(self) -> dict[str, Any]:
        return {"target": self.target.to_json(), "edit": self.edit.to_json() if self.edit else None}


Verification = Callable[[Board, Prepared, PluginList | None], str | None]


def no_new_plugin_failures(board: Board, prepared: Prepared, after: PluginList | None) -> str | None:
    """The new environment's probe reports no plugin failure the old one did not."""
    if after is None:
        return "the environment could not be probed after the upgrade"
    if after.failure:
        return f"the probe of the new environment failed: {after.failure}"
    known = {error.get("module") for error in (prepared.before.errors if prepared.before else [])}
    new = [error for error in after.errors if error.get("module") not in known]
    if new:
        first = new[0]
        return f"plugin {first.get('module')} no longer loads: {first.get('type')}: {first.get('message')}"
    return None


def definitions_still_load(board: Board, prepared: Prepared, after: PluginList | None) -> str | None:
    """The project's definitions load in the new environment (dg's own load check, where the
    environment has dg or Dagster; elsewhere there is nothing to check)."""
    verdict = board.definitions.check(prepared.project, prepared.env)
    if verdict.loads is False:
        error = verdict.error or {}
        where = f" ({error['file']}:{error['line']})" if error.get("file") and error.get("line") else ""
        return f"the definitions no longer load: {error.get('message', 'see the log')}{where}"
    return None


VERIFICATIONS: list[tuple[str, Verification]] = [
    ("plugins still load", no_new_plugin_failures),
    ("definitions still load", definitions_still_load),
]


def apply_edit(edit: Edit) -> None:
    """Replace one requirement string in pyproject.toml, keeping the rest of the file as it is."""
    raw = edit.file.read_bytes()
    bom = raw.startswith(UTF8_BOM)
    text = raw[len(UTF8_BOM) :].decode("utf-8") if bom else raw.decode("utf-8")
    document = tomlkit.parse(text)
    replaced = 0
    for array in _requirement_arrays(document):
        for index, item in enumerate(array):
            if isinstance(item, str) and str(item) == edit.old:
                array[index] = edit.new
                replaced += 1
    if not replaced:
        raise StepFailed(f"{edit.file} no longer asks for {edit.old!r}; nothing was edited")
    new_text = tomlkit.dumps(document)
    if edit.new not in str(tomllib.loads(new_text)):  # the edit must read back as written
        raise StepFailed(f"the edit of {edit.file} did not read back; nothing was written")
    atomic_write(edit.file, (UTF8_BOM if bom else b"") + new_text.encode("utf-8"))


def _requirement_arrays(document: Any) -> list[Any]:
    arrays = []
    project = document.get("project")
    if project is not None:
        if "dependencies" in project:
            arrays.append(project["dependencies"])
        arrays += list((project.get("optional-dependencies") or {}).values())
    arrays += list((document.get("dependency-groups") or {}).values())
    return [array for array in arrays if isinstance(array, list)]


def _say(log: JobLog, text: str) -> None:
    log.append(f"\n[envboard] {text}\n")


def _run_step(
    invocation: Invocation,
    log: JobLog,
    job_id: str,
    cancel: Cancellation,
    term_grace: float,
    on_start: Callable[[int], Any],
) -> RunResult:
    return run_in_log(invocation, log, job_id, cancel=cancel, term_grace=term_grace, on_start=on_start)


def _check(result: RunResult, what: str) -> None:
    if result.cancelled:
        raise StepFailed(f"{what}: cancelled")
    if not result.ok:
        raise StepFailed(f"{what} failed: {result.error or f'exit {result.exit_code}'}")


def run_upgrade(
    board: Board,
    prepared: Prepared,
    log: JobLog,
    job_id: str,
    *,
    request: UpgradeRequest,
    cancel: Cancellation,
    term_grace: float,
    on_start: Callable[[int], Any],
) -> Outcome:
    """Edit, relock, sync, verify; on any failure put the kept files back and sync back."""
    started = time.time()
    project, env = prepared.project, prepared.env
    step_args = (log, job_id, cancel, term_grace, on_start)
    after: PluginList | None = None
    try:
        if request.edit is not None:
            _say(log, f"step: edit {request.edit.file.name}: {request.edit.old!r} -> {request.edit.new!r}")
            apply_edit(request.edit)
        _say(log, "step: relock")
        lock = lock_invocation(board.resolver, env, request.target, list(request.installed), dry_run=False)
        _check(_run_step(lock, *step_args), "uv lock")
        _say(log, "step: sync")
        _check(_run_step(sync_invocation(board.resolver, project.path), *step_args), "uv sync")
        after = board.probe_now(project, env)
        for name, verify in VERIFICATIONS:
            _say(log, f"step: verify: {name}")
            problem = verify(board, prepared, after)
            if problem:
                raise StepFailed(f"verification failed ({name}): {problem}")
    except (StepFailed, KeptError, OSError) as exc:
        return _roll_back(board, prepared, log, job_id, str(exc), started, cancel, term_grace, on_start)
    _say(log, "upgraded and verified")
    board.check_status(project, env)
    detail = {
        **request.to_json(),
        "plugin_diff": plugin_diff(prepared.before, after),
        "package_diff": package_diff(prepared.before, after),
    }
    fields = {"message": None, "detail": detail, "lock_after": lock_hash(project, env)}
    # the running webserver loads the new environment too, once the job has freed the lock
    return Outcome(SUCCEEDED, 0, time.time() - started, False, fields, reload=True)


def _roll_back(
    board: Board,
    prepared: Prepared,
    log: JobLog,
    job_id: str,
    why: str,
    started: float,
    cancel: Cancellation,
    term_grace: float,
    on_start: Callable[[int], Any],
) -> Outcome:
    project, env = prepared.project, prepared.env
    _say(log, f"{why}; rolling back")
    restored = restore(kept_files(log.path))
    names = ", ".join(path.name for path in restored) or "nothing had changed"
    _say(log, f"restored byte for byte: {names}; syncing back")
    back = _run_step(
        sync_invocation(board.resolver, project.path), log, job_id, Cancellation(), term_grace, on_start
    )  # not the job's cancel: the way back must run to the end
    board.check_status(project, env)
    synced = "synced back" if back.ok else f"the sync back failed too ({back.error or back.exit_code})"
    message = f"rolled back: {why}; pyproject.toml and uv.lock restored, {synced}"
    _say(log, message)
    status = CANCELLED if cancel.requested else FAILED
    fields = {"message": message, "detail": {"rolled_back": True}, "lock_after": lock_hash(project, env)}
    return Outcome(status, 1, time.time() - started, cancel.requested, fields)


def run_rollback(
    board: Board,
    prepared: Prepared,
    log: JobLog,
    job_id: str,
    *,
    of_job: str,
    of_log: str | None,
    cancel: Cancellation,
    term_grace: float,
    on_start: Callable[[int], Any],
) -> Outcome:
    """Put back the files job `of_job` kept (its project as it was before it), then sync."""
    started = time.time()
    project, env = prepared.project, prepared.env
    try:
        files = kept_files(of_log)
        if not files:
            raise KeptError(f"job {of_job} kept no files to go back to")
        restored = restore(files)
    except (KeptError, OSError) as exc:
        _say(log, f"not rolled back: {exc}")
        return Outcome(FAILED, 1, time.time() - started, False, {"message": str(exc)})
    _say(log, f"restored as before job {of_job}: {', '.join(p.name for p in restored) or 'nothing differed'}")
    result = _run_step(
        sync_invocation(board.resolver, project.path), log, job_id, cancel, term_grace, on_start
    )
    board.check_status(project, env)
    detail = {"rollback_of": of_job}
    if result.ok and env.exists:
        after = board.probe_now(project, env)
        detail |= {
            "plugin_diff": plugin_diff(prepared.before, after),
            "package_diff": package_diff(prepared.before, after),
        }
    status = SUCCEEDED if result.ok else (CANCELLED if result.cancelled else FAILED)
    message = None if result.ok else f"files restored, but uv sync failed: {result.error or result.exit_code}"
    fields = {"message": message, "detail": detail, "lock_after": lock_hash(project, env)}
    return Outcome(status, result.exit_code, time.time() - started, result.cancelled, fields)


def start_upgrade(jobs: JobManager, project: Project, request: UpgradeRequest, who: str) -> JobRecord:
    """Queue the upgrade of one approved project (JobError says why it cannot start)."""
    work = functools.partial(run_upgrade, request=request)
    return jobs.start(project, "upgrade", who, work, request.to_json())


def start_rollback(jobs: JobManager, job_id: str, who: str) -> JobRecord:
    """Queue the rollback of a project to how it was before job `job_id`."""
    record = jobs.get(job_id)
    if record is None:
        raise JobError(f"no job {job_id!r}")
    if not record.finished:
        raise JobError(f"job {job_id} has not ended yet")
    if no_longer_kept(record):
        raise JobError(
            f"the files job {job_id} replaced are no longer kept (envboard keeps those of "
            f"{jobs.retention.describe()})"
        )
    try:
        if not kept_files(record.log_path):
            raise JobError(
                f"job {job_id} kept no files (a {record.action}), so there is nothing to go back to"
            )
    except KeptError as exc:
        raise JobError(str(exc)) from exc
    project = jobs.board.project(record.project_id)
    if project is None:
        raise JobError(f"the project of job {job_id} is no longer in the workspace")
    work = functools.partial(run_rollback, of_job=record.id, of_log=record.log_path)
    return jobs.start(project, "rollback", who, work, {"rollback_of": record.id})
