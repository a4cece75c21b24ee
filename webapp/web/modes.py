"""Switching a project's environment mode: preview (page and JSON), then write."""

from __future__ import annotations

from flask import Blueprint, jsonify, redirect, render_template, request, url_for

from ..core.jobs.errors import JobError
from ..core.pages.project import ModePreview, mode_preview
from ..core.workspace import modes
from ..core.workspace.dg import MODE_UV
from . import feedback
from .security import current_user
from .services import envboard, project_state, services

blueprint = Blueprint("modes", __name__)


def _status(preview: ModePreview) -> tuple[int, dict[str, str]]:
    """200; 409 for a change that cannot be made; 503 (try again) while previews are all busy."""
    if preview.busy:
        return 503, {"Retry-After": "2"}
    return (409 if preview.error else 200), {}


def _page(preview: ModePreview):
    page = render_template(
        "mode.html",
        state=preview.state,
        change=preview.change,
        error=preview.error,
        target=preview.target,
        env=preview.future_env,
    )
    return page, *_status(preview)


def written(state) -> str:
    """'Mode of ingest written: persistent_uv (pyproject.toml line 19)', read back from the file."""
    project = state.project
    setting = project.mode
    if setting is None:  # the file no longer reads (edited meanwhile): say what is known
        return f"Mode of {project.name} written; its config now reads: {project.error}"
    where = setting.file.name if setting.file else "its config"
    line = f" line {setting.line}" if setting.line else ""
    return f"Mode of {project.name} written: {setting.mode} ({where}{line})"


@blueprint.get("/projects/<project_id>/mode")
def preview(project_id: str):
    body, status, headers = _page(
        mode_preview(envboard(), project_state(project_id), request.args.get("to", ""))
    )
    # never from the browser's cache: Back after writing must show the file as it is now
    return body, status, {**headers, "Cache-Control": "no-store"}


@blueprint.get("/api/projects/<project_id>/mode")
def api_preview(project_id: str):
    data = mode_preview(envboard(), project_state(project_id), request.args.get("to", ""))
    return jsonify(data.to_json()), *_status(data)


@blueprint.post("/projects/<project_id>/mode")
def apply(project_id: str):
    state = project_state(project_id)
    target = request.form.get("to", "")
    data = mode_preview(envboard(), state, target)
    if data.change is None:
        return _page(data)
    jobs = services().jobs
    try:
        jobs.change_mode(data.change, request.form.get("file_hash", ""), state.project, current_user())
    except (JobError, modes.ModeChangeError) as exc:  # a stale edit included: nothing was written
        refused = ModePreview(state, target, None, str(exc), None)
        return _page(refused)
    services().monitor.refresh_project(project_id)
    fresh = project_state(project_id)
    feedback.say(written(fresh))
    if target == MODE_UV and request.form.get("sync_after"):
        try:
            record, joined = jobs.sync(fresh.project, current_user())
            feedback.say_sync(jobs, record, joined)
            return redirect(url_for("jobs.show", job_id=record.id), code=303)
        except JobError as exc:
            feedback.say(f"Sync of {fresh.project.name} not started: {exc}", feedback.ERROR)
    return redirect(url_for("projects.show", project_id=project_id), code=303)
