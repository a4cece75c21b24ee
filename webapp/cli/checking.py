"""`envboard check`: does each project's code location load? For CI and git hooks.

The same check, cache and history as the dashboard: a verdict whose files are unchanged
is reused (never stale), anything else runs `dg check defs` in the project's environment.
Exit 1 when any project fails to load, 0 otherwise.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from typing import TYPE_CHECKING, Any

import click

from .actions import _project_or_exit, tell_what_the_webserver_said
from .options import Common, choice, command, common_options, dagster_url_option, settings_from

if TYPE_CHECKING:
    from ..core.app import Envboard
    from ..core.probe.loadverdict import LoadCheck
    from ..core.workspace.scan import Project


@command(
    "check",
    short_help="check that each project's definitions load (dg check defs); exit 1 if any does not",
    help="Check that each project's definitions load (dg check defs), in the environment envboard "
    "resolves for it, with the project's own dg. Prints each verdict; exit 1 when any project fails "
    "to load. PROJECT: an id, name or path (default: all).",
)
@common_options
@click.argument("references", nargs=-1, metavar="[PROJECT]...")
@choice("--json", "as_json", is_flag=True, help="print one JSON object")
@choice("--no-cache", is_flag=True, help="check again even where nothing changed")
@dagster_url_option
def check(
    common: Common, references: tuple[str, ...], as_json: bool, no_cache: bool, dagster_url: str | None
) -> int:
    from concurrent.futures import ThreadPoolExecutor

    from ..core.app import Envboard

    envboard = Envboard(dataclasses.replace(settings_from(common), dagster_url=dagster_url or None))
    try:
        board = envboard.board
        if references:
            projects = [_project_or_exit(board, reference) for reference in references]
        else:
            projects = list(board.workspace.projects)
        who = os.environ.get("USER", "local")
        with ThreadPoolExecutor(max_workers=envboard.settings.workers) as pool:
            verdicts = list(pool.map(lambda p: _verdict(envboard, p, who, no_cache), projects))
        tell_what_the_webserver_said(envboard, projects)
    finally:
        envboard.close()
    results = [_entry(project, verdict) for project, verdict in zip(projects, verdicts, strict=True)]
    if as_json:
        print(json.dumps({"projects": results}, indent=2))
    else:
        for project, verdict, entry in zip(projects, verdicts, results, strict=True):
            print(_line(project, verdict, entry))
    return 1 if any(entry["loads"] is False for entry in results) else 0


def _verdict(envboard: Envboard, project: Project, who: str, fresh: bool) -> LoadCheck:
    from ..core.probe.loadverdict import FAILS, LoadCheck

    if project.error:  # dg cannot read the project either: it does not load
        where = {"file": str(project.error_file) if project.error_file else None, "line": project.error_line}
        return LoadCheck(
            FAILS, "the project's config has an error", error={"message": project.error, **where}
        )
    env = envboard.board.resolve(project)
    checks = envboard.board.definitions
    verdict = None if fresh else checks.cached(project, env)
    if verdict is None:
        verdict = checks.check(project, env)
        envboard.jobs.record_check(project, verdict, who)
    return verdict


def _entry(project: Project, verdict: LoadCheck) -> dict[str, Any]:
    return {"id": project.id, "name": project.name, **verdict.summary()}


def _line(project: Project, verdict: LoadCheck, entry: dict[str, Any]) -> str:
    from ..core.probe.loadverdict import count_words

    if verdict.loads:
        counts = count_words(verdict.definitions)
        return f"{project.id}: loads" + (f" ({counts})" if counts else "")
    if verdict.loads is False:
        error = entry["error"] or {}
        where = f"{error['file']}:{error['line']}: " if error.get("file") and error.get("line") else ""
        return f"{project.id}: does not load: {where}{error.get('message')}"
    print(f"envboard: {project.id} was not checked: {verdict.why}", file=sys.stderr)
    return f"{project.id}: not checked ({verdict.why})"


COMMANDS = (check,)
