"""Every action as JSON, for scripts: sync, sync all, mode change, cancel, plugin refresh.

The same core calls as the buttons (web/jobs.py, web/modes.py, web/projects.py), answered
the way an HTTP client expects: `202 Accepted` with the job's JSON and a `Location` to
poll (`/api/jobs/<id>`) for what runs on; errors as JSON (`{"error", "message"}`, by
web/errors.py, as for every path under /api/). Authentication and CSRF are checked before
any of this (web/security.py): a bearer token needs no CSRF token, a browser session does.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, jsonify, request, url_for

from ..core.jobs.errors import JobError
from ..core.jobs.history import JobRecord
from ..core.pages.jobs import job
from ..core.pages.overview import needing_sync
from ..core.pages.project import mode_preview
from ..core.workspace import modes
from ..core.workspace.dg import MODE_UV
from .security import current_user
from .services import envboard, project_or_404, project_state, services

blueprint = Blueprint("actions", __name__)


def _accepted(body: dict[str, Any], location: str, status: int = 202):
    response = jsonify(body)
    response.status_code = status
    response.headers["Location"] = location
    return response


def _job_url(record: JobRecord) -> str:
    return url_for("jobs.api_job", job_id=record.id)


def _arguments() -> dict[str, Any]:
    """A JSON object or form fields; anything else is a 400 that says what is expected."""
    if request.is_json:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            example = '{"to": "persistent_uv", "file_hash": "..."}'
            abort(400, description=f"the body must be a JSON object, e.g. {example}")
        return body
    return request.form.to_dict()


def _flag(value: Any) -> bool:
    return value is True or str(value).lower() in ("1", "true", "yes", "on")


@blueprint.post("/api/projects/<project_id>/sync")
def sync(project_id: str):
    state = project_state(project_id)
    try:
        record, joined = services().jobs.sync(state.project, current_user())
    except JobError as exc:
        abort(409, description=str(exc))
    return _accepted({**record.to_json(), "joined": joined}, _job_url(record))


@blueprint.post("/api/sync-out-of-sync")
def sync_out_of_sync():
    projects = [state.project for state in needing_sync(envboard())]
    done = services().jobs.sync_out_of_sync(projects, current_user())
    body = {
        "started": [record.to_json() for record in done.started],
        "joined": [record.to_json() for record in done.joined],
        "refused": [{"project_id": project.id, "reason": reason} for project, reason in done.refused],
    }
    # 200 when nothing runs because of this request: there is nothing to watch
    return _accepted(body, url_for("jobs.api_jobs"), 202 if done.started or done.joined else 200)


@blueprint.post("/api/projects/<project_id>/mode")
def change_mode(project_id: str):
    """Write the mode previewed by GET on the same address, if the file still has the preview's hash."""
    state = project_state(project_id)
    arguments = _arguments()
    target = str(arguments.get("to") or "")
    expected = str(arguments.get("file_hash") or "")
    if not expected:
        preview = url_for("modes.api_preview", project_id=project_id, to=target or MODE_UV)
        abort(400, description=f"file_hash is required: GET {preview} gives it, and the change it means")
    data = mode_preview(envboard(), state, target)
    if data.busy:
        response = jsonify({"error": "service unavailable", "message": data.error})
        response.status_code, response.headers["Retry-After"] = 503, "2"
        return response
    if data.change is None:
        abort(409, description=data.error or "nothing to change")
    jobs = services().jobs
    try:
        record = jobs.change_mode(data.change, expected, state.project, current_user())
    except (JobError, modes.ModeChangeError) as exc:  # nothing was written
        abort(409, description=str(exc))
    services().monitor.refresh_project(project_id)
    body: dict[str, Any] = {"job": record.to_json(), "sync": None, "sync_refused": None}
    if not (target == MODE_UV and _flag(arguments.get("sync"))):
        return _accepted(body, _job_url(record), 200)  # the change is made: nothing runs on
    try:
        synced, joined = jobs.sync(project_state(project_id).project, current_user())
    except JobError as exc:
        body["sync_refused"] = str(exc)
        return _accepted(body, _job_url(record), 200)
    body["sync"] = {**synced.to_json(), "joined": joined}
    return _accepted(body, _job_url(synced))


@blueprint.post("/api/jobs/<job_id>/cancel")
def cancel(job_id: str):
    record = job(envboard(), job_id)
    if record is None:
        abort(404, description=f"no job {job_id!r}")
    if record.finished:
        abort(409, description=f"job {job_id} has already ended: {record.status}")
    record = services().jobs.cancel(job_id, current_user()) or record
    return _accepted(record.to_json(), _job_url(record))


@blueprint.post("/api/projects/<project_id>/plugins/refresh")
def refresh_plugins(project_id: str):
    """Probe again in the background; the project's JSON says `pending` until the answer is in."""
    state = project_state(project_id)
    services().board.refresh_plugins(state.project)
    services().monitor.refresh_project(project_id)
    location = url_for("projects.api_project", project_id=project_id)
    return _accepted(project_or_404(project_id).to_json(), location)
