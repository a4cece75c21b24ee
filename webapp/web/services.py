"""The running envboard, as the web layer reaches it: one object, one typed accessor."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NoReturn

from flask import Flask, abort, current_app

from ..core.access.sessions import SessionStore
from ..core.app import Envboard
from ..core.jobs.manager import JobManager
from ..core.live.board import Board
from ..core.live.monitor import Monitor
from ..core.live.state import ProjectState
from ..core.pages.project import ProjectPage, project
from .encoded import Answer, Kept
from .limits import FailureLimiter
from .prometheus import Metrics
from .rows import RowCache, Table

EXTENSION = "envboard"


@dataclass
class Services:
    """The core envboard plus what only the web layer keeps (rendered rows, sessions, sign-in limits)."""

    core: Envboard
    sessions: SessionStore
    rows: RowCache
    signin_limiter: FailureLimiter
    metrics: Metrics | None = None  # set by web.metrics.init_app
    answers: Kept[Answer] = field(default_factory=Kept)  # encoded pages and fragments, reused
    shown: Kept[Table] = field(default_factory=Kept)  # the rows sent with each poll token: changes are sent

    @property
    def board(self) -> Board:
        return self.core.board

    @property
    def monitor(self) -> Monitor:
        return self.core.monitor

    @property
    def jobs(self) -> JobManager:
        return self.core.jobs


def init_app(app: Flask, core: Envboard, sessions: SessionStore) -> Services:
    services = Services(core, sessions, RowCache(), FailureLimiter())
    app.extensions[EXTENSION] = services
    return services


def services() -> Services:
    return current_app.extensions[EXTENSION]


def envboard() -> Envboard:
    """The core envboard, for the data functions in `core.pages`."""
    return services().core


def project_state(project_id: str) -> ProjectState:
    """The project's state in the monitor's snapshot. Only ids from the scan address a
    project; anything else is a 404. (A lookup, not the project page's data: actions and
    fragments need no more.)"""
    state = services().monitor.snapshot.get(project_id)
    if state is None:
        no_such_project(project_id)
    return state


def project_or_404(project_id: str) -> ProjectPage:
    """Only ids from the scan address a project; anything else is a 404."""
    page = project(envboard(), project_id)
    if page is None:
        no_such_project(project_id)
    return page


def no_such_project(project_id: str) -> NoReturn:
    """A 404 for an id the scan did not give; a project's name in its place gets its id
    suggested (the command line takes names, the URLs and the API ids)."""
    named = [
        state.project.id for state in services().monitor.snapshot.states if state.project.name == project_id
    ]
    hint = f"; its id is {named[0]!r} (ids are listed at /api/projects)" if named else ""
    abort(404, description=f"no project with id {project_id!r} in this workspace{hint}")
