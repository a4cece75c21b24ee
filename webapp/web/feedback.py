"""What just happened, said where the person lands.

Messages go through Flask's `flash` and are shown in one spot (`#flashes`, in base.html).
A full page shows them as it renders; an htmx answer carries them out of band
(`with_flashes`), so a message reads the same whichever way the action was taken.
"""

from __future__ import annotations

from flask import flash, render_template

from ..core.jobs.history import JobRecord
from ..core.jobs.manager import JobManager
from .presenters import project_name

INFO, ERROR = "info", "error"


def say(message: str, kind: str = INFO) -> None:
    flash(message, kind)


def with_flashes(html: str) -> str:
    """An htmx fragment plus the flashed messages, swapped into `#flashes` out of band."""
    return html + render_template("fragments/flashes.html", oob=True)


def names(records: list[JobRecord]) -> str:
    shown = [project_name(record.project_id) for record in records]
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " and " + shown[-1]


JOB = "job:"  # a message about a job follows it: 'started' becomes 'succeeded' where it is shown


def say_sync(jobs: JobManager, record: JobRecord, joined: bool) -> None:
    """'Sync of X started', 'Sync of X queued behind Y', or that it joined the one under way."""
    name = project_name(record.project_id)
    follows = JOB + record.id
    if joined:
        say(f"A sync of {name} was already {record.status}; you are watching it", follows)
        return
    ahead = jobs.queued_behind(record.id)
    if ahead:
        say(f"Sync of {name} queued behind {names(ahead)}", follows)
    else:
        say(f"Sync of {name} started", follows)


def job_ended(record: JobRecord) -> tuple[str, str]:
    """What a message about a job says once it has ended: (kind, words)."""
    text = f"{record.action.capitalize()} of {project_name(record.project_id)} {record.status}"
    if record.status == "succeeded":
        return INFO, text
    return ERROR, text + (f": {record.message}" if record.message and record.message != "cancelled" else "")
