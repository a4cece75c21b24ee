"""`envboard sync` and `envboard mode`: the same jobs, locks and history as the dashboard."""

from __future__ import annotations

import argparse
import os
import sys
import time

from ..core import modes
from ..core.dg import MODES
from ..core.jobs import JobError
from ..core.services import Envboard
from .options import add_common, settings_from


def add_parsers(commands) -> None:
    sync = commands.add_parser("sync", help="uv sync one project, through the same jobs as the dashboard")
    add_common(sync)
    sync.add_argument("project", help="project id, name or path")
    sync.set_defaults(handler=cmd_sync)

    mode = commands.add_parser("mode", help="switch a project's environment mode")
    add_common(mode)
    mode.add_argument("project", help="project id, name or path")
    mode.add_argument("target", choices=MODES)
    mode.add_argument("--yes", action="store_true", help="write without asking")
    mode.set_defaults(handler=cmd_mode)


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


def _who() -> str:
    return os.environ.get("USER", "local")


def cmd_sync(args: argparse.Namespace) -> int:
    envboard = Envboard(settings_from(args))
    jobs = envboard.jobs
    record = None
    try:
        project = _project_or_exit(envboard.board, args.project)
        try:
            record, _ = jobs.sync(project, _who())
        except JobError as exc:
            print(f"envboard: cannot sync {project.id}: {exc}", file=sys.stderr)
            return 2
        print(f"envboard: job {record.id}: sync of {project.id}", file=sys.stderr)
        position = 0
        while True:
            finished = jobs.get(record.id).finished  # read before copying: the tail is never lost
            position = _copy_new_output(record.log_path, position)
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
            jobs.cancel(record.id, _who())
            jobs.wait(record.id, timeout=15)
        return 130
    finally:
        envboard.close()


def _copy_new_output(path: str | None, position: int) -> int:
    if not path:
        return position
    with open(path, "rb") as handle:
        handle.seek(position)
        data = handle.read()
    if data:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    return position + len(data)


def cmd_mode(args: argparse.Namespace) -> int:
    envboard = Envboard(settings_from(args))
    try:
        project = _project_or_exit(envboard.board, args.project)
        try:
            change = modes.preview(project, args.target)
        except modes.ModeChangeError as exc:
            print(f"envboard: {exc}", file=sys.stderr)
            return 2
        if not change.changes_anything:
            print(f"{project.id} is already {args.target}; nothing to change.")
            return 0
        print(change.diff, end="")
        if not args.yes:
            if not sys.stdin.isatty():
                print("envboard: not writing without --yes (no terminal to ask)", file=sys.stderr)
                return 2
            if input(f"Write this change to {change.file}? [y/N] ").strip().lower() not in ("y", "yes"):
                print("nothing written")
                return 1
        try:
            envboard.jobs.change_mode(change, change.file_hash, project, _who())
        except (JobError, modes.ModeChangeError) as exc:
            print(f"envboard: {exc}", file=sys.stderr)
            return 2
        print(f"{project.id}: mode is now {args.target}")
        return 0
    finally:
        envboard.close()
