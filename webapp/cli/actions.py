"""`envboard sync` and `envboard mode`: the same jobs, locks and history as the dashboard."""

from __future__ import annotations

import dataclasses
import getpass
import os
import signal
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import click

from ..core.workspace.dg import MODE_UV, MODES
from ..core.workspace.eras import TARGET_REMOVE_KEY
from .options import Choice, Common, choice, command, common_options, dagster_url_option, settings_from

if TYPE_CHECKING:
    from ..core.app import Envboard
    from ..core.workspace.scan import Project


def who_option(function: Callable) -> Callable:
    return choice(
        "--as", "who", metavar="NAME", help="the name the history records (default: your Unix user name)"
    )(function)


@command(
    "sync",
    short_help="uv sync projects, through the same jobs as the dashboard",
    help="uv sync each project in turn, through the same jobs as the dashboard, streaming uv's output. "
    "Colours only on a terminal (NO_COLOR turns them off there too). PROJECT: an id, name or path.",
)
@common_options
@click.argument("references", nargs=-1, required=True, metavar="PROJECT...")
@choice(
    "--shared-ok",
    is_flag=True,
    help="sync even when other projects run in the same environment (it removes what they need)",
)
@who_option
@dagster_url_option
def sync(
    common: Common, references: tuple[str, ...], shared_ok: bool, who: str | None, dagster_url: str | None
) -> int:
    from ..core.app import Envboard

    name = _who(who)
    envboard = Envboard(dataclasses.replace(settings_from(common), dagster_url=dagster_url or None))
    previous = signal.signal(signal.SIGTERM, _terminated)
    try:
        projects = [_project_or_exit(envboard.board, reference) for reference in references]
        worst = 0
        for project in projects:  # one after the other, so that each log reads on its own
            code = _sync_one(envboard, project, name, colour=wants_colour(), shared_ok=shared_ok)
            worst = worst or code
        tell_what_the_webserver_said(envboard, projects)
        return worst
    except Terminated:
        ended = envboard.jobs.interrupt_all("envboard sync was stopped (SIGTERM)")
        print(f"envboard: stopped; interrupted job(s) {', '.join(ended) or 'none'}", file=sys.stderr)
        return 128 + signal.SIGTERM
    finally:
        signal.signal(signal.SIGTERM, previous)
        envboard.close()


@command(
    "mode",
    short_help="switch a project's environment mode",
    help="switch a project's environment mode: shows the diff, then writes it. PROJECT: an id, name or path.",
)
@common_options
@click.argument("reference", metavar="PROJECT")
@click.argument("target", metavar="MODE", type=Choice((*MODES, TARGET_REMOVE_KEY)))
@choice("--yes", is_flag=True, help="write without asking")
@choice(
    "--sync",
    "then_sync",
    is_flag=True,
    help="to persistent_uv: sync at once after writing (asked on a terminal without --yes)",
)
@who_option
def mode(common: Common, reference: str, target: str, yes: bool, then_sync: bool, who: str | None) -> int:
    from ..core.app import Envboard
    from ..core.jobs.errors import JobError
    from ..core.workspace import mode_preview, modes

    name = _who(who)
    envboard = Envboard(settings_from(common))
    try:
        project = _project_or_exit(envboard.board, reference)
        try:
            change = mode_preview.preview(project, target)
        except modes.ModeChangeError as exc:
            print(f"envboard: {exc}", file=sys.stderr)
            return 2
        if not change.changes_anything:
            print(f"{project.id} is already {target}; nothing to change.")
            return 0
        print(change.diff, end="")
        if not yes:
            if not sys.stdin.isatty():
                print("envboard: not writing without --yes (no terminal to ask)", file=sys.stderr)
                return 2
            if input(f"Write this change to {change.file}? [y/N] ").strip().lower() not in ("y", "yes"):
                print("nothing written")
                return 1
        try:
            envboard.jobs.change_mode(change, change.file_hash, project, name)
        except (JobError, modes.ModeChangeError) as exc:
            print(f"envboard: {exc}", file=sys.stderr)
            return 2
        print(f"{project.id}: mode is now {target}")
        if target != MODE_UV:
            return 0
        # as the page offers: uv makes the project's .venv only when it is synced
        if not then_sync and not yes and sys.stdin.isatty():
            then_sync = input(f"Sync {project.id} now? [Y/n] ").strip().lower() in ("", "y", "yes")
        if not then_sync:
            print(f"Next: envboard sync {project.id} (uv creates or updates its .venv)")
            return 0
        envboard.board.rescan()  # the mode just written
        return _sync_one(envboard, envboard.board.project(project.id) or project, name, colour=wants_colour())
    finally:
        envboard.close()


def _project_or_exit(board, reference: str):
    project = board.workspace.find(reference)
    if project is None:
        known = ", ".join(p.id for p in board.workspace.projects) or "none"
        print(
            f"envboard: no project {reference!r} in {board.workspace.root} (projects: {known})",
            file=sys.stderr,
        )
        raise SystemExit(2)
    return project


def _who(given: str | None) -> str:
    """Who the history says did it: `--as NAME`, else the Unix user (also where USER is unset,
    as under cron, sudo or a service), so that a team server's history names people, not `local`."""
    if given is not None:
        from ..core.access.users import is_user_name

        if not is_user_name(given):
            print(f"envboard: --as {given!r} is not a name (letters, digits, . _ @ -)", file=sys.stderr)
            raise SystemExit(2)
        return given
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name and no passwd entry (a container's random uid)
        return "local"


def wants_colour(stream=None) -> bool:
    """Colours only on a terminal, and never with NO_COLOR set (https://no-color.org)."""
    stream = stream or sys.stdout
    return bool(stream.isatty()) and not os.environ.get("NO_COLOR")


class Terminated(Exception):
    """SIGTERM reached `envboard sync`: its job is ended and recorded, not left running."""


def _terminated(_signum, _frame) -> None:
    raise Terminated


def _sync_one(envboard: Envboard, project, who: str, colour: bool, shared_ok: bool = False) -> int:
    from ..core.jobs.errors import JobError

    jobs = envboard.jobs
    record = None
    try:
        try:
            record, _ = jobs.sync(project, who, confirm_shared=shared_ok)
        except JobError as exc:
            print(f"envboard: cannot sync {project.name}: {exc}", file=sys.stderr)
            return 2
        print(f"envboard: job {record.id}: sync of {project.name}", file=sys.stderr)
        position = 0
        while True:
            finished = jobs.get(record.id).finished  # read before copying: the tail is never lost
            position = _copy_new_output(record.log_path, position, colour, finished)
            if finished:
                break
            time.sleep(0.1)
        final = jobs.get(record.id)
        print(
            f"envboard: job {record.id} {final.status}" + (f": {final.message}" if final.message else ""),
            file=sys.stderr,
        )
        if final.status == "succeeded":
            return 0
        return final.exit_code or 1
    except KeyboardInterrupt:
        if record is not None:
            jobs.cancel(record.id, who)
            jobs.wait(record.id, timeout=15)
        raise


def _copy_new_output(path: str | None, position: int, colour: bool = True, last: bool = False) -> int:
    """Copy the log's new output to stdout, without escapes when there is no colour; an
    escape or character cut in two by the writer waits for its second half."""
    from ..core.environments.output import strip_ansi
    from ..core.jobs.log import JobLog

    log = JobLog(path)
    while True:
        chunk = log.read(position, finished=last)
        if chunk.text:
            sys.stdout.write(chunk.text if colour else strip_ansi(chunk.text))
            sys.stdout.flush()
        position = chunk.offset
        if not chunk.more:
            return position


COMMANDS = (sync, mode)


RELOAD_WAIT = 300.0  # a webserver loading a big location answers its reload when it has loaded


def tell_what_the_webserver_said(envboard: Envboard, projects: list[Project]) -> None:
    """With --dagster-url: wait for the reloads the jobs asked for, and say what it answered."""
    jobs, reloads = envboard.jobs, envboard.jobs.reloads
    if envboard.board.webserver is None:
        return
    # a sync's record is finished before its runner asks for the reload (once the project's
    # lock is free): until the runner is done, no reload under way may only mean not asked yet
    deadline = time.monotonic() + RELOAD_WAIT
    while any(jobs.active_job(project.id) for project in projects) and time.monotonic() < deadline:
        time.sleep(0.05)
    if not reloads.wait(max(0.0, deadline - time.monotonic())):
        print(f"envboard: the Dagster webserver did not answer within {RELOAD_WAIT:.0f} s", file=sys.stderr)
    for project in projects:
        if project.id in reloads.said:
            print(f"envboard: {project.id}: {reloads.said[project.id]}", file=sys.stderr)
