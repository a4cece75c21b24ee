"""Actions on projects: sync and mode change as jobs, live logs, and the history."""

from __future__ import annotations

import os

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)

from ..core import modes
from ..core.jobs import JobError, JobManager
from .ansi import safe_cut, to_html
from .projects import project_state
from .security import current_user

blueprint = Blueprint("jobs", __name__)

LOG_CHUNK = 256 * 1024
LOG_TAIL = 1024 * 1024  # a page opened on a big log starts this far from its end (the page keeps 5,000 lines)


def _jobs() -> JobManager:
    return current_app.extensions["envboard.jobs"]


def _monitor():
    return current_app.extensions["envboard.monitor"]


def _job_or_404(job_id: str):
    record = _jobs().get(job_id)
    if record is None:
        abort(404, description=f"no job {job_id!r}")
    return record


def _wants_fragment() -> bool:
    return bool(request.headers.get("HX-Request"))


@blueprint.post("/projects/<project_id>/sync")
def sync(project_id: str):
    state = project_state(project_id)
    try:
        record, joined = _jobs().sync(state.project, current_user())
    except JobError as exc:
        if _wants_fragment():
            return render_template("fragments/notice.html", kind="error", message=str(exc)), 409
        abort(409, description=str(exc))
    if _wants_fragment():
        return render_template("fragments/job_panel.html", job=record, joined=joined)
    return redirect(url_for("jobs.show", job_id=record.id), code=303)


@blueprint.post("/sync-out-of-sync")
def sync_out_of_sync():
    for state in _monitor().states():
        if state.status_name == "out_of_sync" and _jobs().can_sync(state.project) is None:
            _jobs().sync(state.project, current_user())
    return redirect(url_for("jobs.history"), code=303)


@blueprint.get("/jobs/<job_id>")
def show(job_id: str):
    record = _job_or_404(job_id)
    return render_template("job.html", job=record)


@blueprint.get("/jobs/<job_id>/log")
def log_chunk(job_id: str):
    """New log output from a byte offset; 286 (htmx stops polling) once the job has ended."""
    record = _job_or_404(job_id)
    offset = max(0, request.args.get("offset", 0, type=int))
    finished = record.finished
    data = b""
    skipped = 0
    if record.log_path and os.path.exists(record.log_path):
        with open(record.log_path, "rb") as handle:
            if request.args.get("tail") and os.path.getsize(record.log_path) - offset > LOG_TAIL:
                handle.seek(os.path.getsize(record.log_path) - LOG_TAIL)
                handle.readline()  # start at a line boundary
                skipped = offset = handle.tell()
            handle.seek(offset)
            data = handle.read(LOG_CHUNK)
    more = len(data) == LOG_CHUNK
    cut = len(data) if finished and not more else safe_cut(data)
    data = data[:cut]
    if not data and not finished:
        return "", 204
    next_offset = offset + len(data)
    done = finished and not more
    body = render_template(
        "fragments/log_chunk.html",
        job=record,
        html=to_html(data.decode("utf-8", errors="replace")),
        offset=next_offset,
        done=done,
        skipped=skipped,
    )
    return body, 286 if done else 200


@blueprint.get("/jobs/<job_id>/raw")
def raw_log(job_id: str):
    record = _job_or_404(job_id)
    if not record.log_path or not os.path.exists(record.log_path):
        abort(404, description="this job has no log")

    def stream():
        with open(record.log_path, "rb") as handle:
            while chunk := handle.read(LOG_CHUNK):
                yield chunk

    return Response(
        stream(),
        mimetype="text/plain",
        headers={"Content-Disposition": f'attachment; filename="envboard-{record.id}.log"'},
    )


@blueprint.get("/jobs/<job_id>/status")
def status_fragment(job_id: str):
    record = _job_or_404(job_id)
    response = current_app.response_class(render_template("fragments/job_status.html", job=record))
    if record.finished:
        _monitor().refresh_project(record.project_id)
        response.headers["HX-Trigger"] = "job-ended"  # the page's environment and plugins refresh
    return response


@blueprint.post("/jobs/<job_id>/cancel")
def cancel(job_id: str):
    _job_or_404(job_id)
    record = _jobs().cancel(job_id, current_user())
    if _wants_fragment():
        return render_template("fragments/job_status.html", job=record)
    return redirect(url_for("jobs.show", job_id=job_id), code=303)


@blueprint.get("/history")
def history():
    return render_template("history.html", jobs=_jobs().list(), project=None)


@blueprint.get("/projects/<project_id>/history")
def project_history(project_id: str):
    state = project_state(project_id)
    return render_template("history.html", jobs=_jobs().list(project_id), project=state.project)


# -- mode change ---------------------------------------------------------------------------------


@blueprint.get("/projects/<project_id>/mode")
def mode_preview(project_id: str):
    state = project_state(project_id)
    target = request.args.get("to", "")
    try:
        change = modes.preview(state.project, target)
    except modes.ModeChangeError as exc:
        return render_template("mode.html", state=state, change=None, error=str(exc), target=target), 409
    future_env = current_app.extensions["envboard.board"].resolver.resolve(state.project, mode=target)
    return render_template("mode.html", state=state, change=change, error=None, target=target, env=future_env)


@blueprint.post("/projects/<project_id>/mode")
def mode_apply(project_id: str):
    state = project_state(project_id)
    target = request.form.get("to", "")
    expected = request.form.get("file_hash", "")
    try:
        change = modes.preview(state.project, target)
        modes.apply(change, expected)
    except modes.ModeChangeError as exc:  # a stale edit included: nothing was written
        return render_template("mode.html", state=state, change=None, error=str(exc), target=target), 409
    _jobs().record_mode_change(state.project, current_user(), change.current_mode, target, change.diff)
    _monitor().refresh()
    if target == "persistent_uv" and request.form.get("sync_after"):
        fresh = project_state(project_id)
        try:
            record, _ = _jobs().sync(fresh.project, current_user())
            return redirect(url_for("jobs.show", job_id=record.id), code=303)
        except JobError:
            pass
    return redirect(url_for("projects.show", project_id=project_id), code=303)


# -- JSON twins ----------------------------------------------------------------------------------


@blueprint.get("/api/jobs")
def api_jobs():
    return jsonify({"jobs": [j.to_json() for j in _jobs().list()]})


@blueprint.get("/api/jobs/<job_id>")
def api_job(job_id: str):
    return jsonify(_job_or_404(job_id).to_json())


@blueprint.get("/api/projects/<project_id>/history")
def api_project_history(project_id: str):
    project_state(project_id)
    return jsonify({"jobs": [j.to_json() for j in _jobs().list(project_id)]})
