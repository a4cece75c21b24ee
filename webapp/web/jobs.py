"""Sync jobs and their live logs, and the history: pages, fragments and JSON twins."""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    abort,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)

from ..core.jobs.errors import JobError
from ..core.jobs.history import JobRecord
from ..core.jobs.log import LogOffsetError
from ..core.pages import jobs
from ..core.pages.overview import needing_sync
from . import feedback, htmx
from .ansi import to_html
from .presenters import project_name
from .security import current_user
from .services import envboard, project_state, services

blueprint = Blueprint("jobs", __name__)


def _job_or_404(job_id: str) -> JobRecord:
    record = jobs.job(envboard(), job_id)
    if record is None:
        abort(404, description=f"no job {job_id!r}")
    return record


@blueprint.post("/projects/<project_id>/sync")
def sync(project_id: str):
    state = project_state(project_id)
    try:
        confirmed = request.form.get("confirm_shared") == "1"
        record, joined = services().jobs.sync(state.project, current_user(), confirm_shared=confirmed)
    except JobError as exc:
        if htmx.is_htmx():
            return render_template("fragments/notice.html", kind="error", message=str(exc)), 409
        abort(409, description=str(exc))
    if htmx.is_htmx():
        if not joined:  # a joined job's panel says so itself
            feedback.say_sync(services().jobs, record, joined)
        panel = render_template("fragments/job_panel.html", job=record, joined=joined)
        buttons = render_template("fragments/action_buttons.html", project=state.project, oob=True)
        # the page's definitions and plugins look again: no Check or Refresh while the job runs
        return htmx.trigger(make_response(feedback.with_flashes(panel + buttons)), "job-started")
    feedback.say_sync(services().jobs, record, joined)
    return redirect(url_for("jobs.show", job_id=record.id), code=303)


@blueprint.post("/sync-out-of-sync")
def sync_out_of_sync():
    needing = [state.project for state in needing_sync(envboard())]
    done = services().jobs.sync_out_of_sync(needing, current_user())
    for project, reason in done.refused:
        feedback.say(f"Sync of {project.name} could not start: {reason}", "error")
    if not done.started:
        if done.joined:
            feedback.say(f"Nothing more to start: the sync of {feedback.names(done.joined)} is under way")
        elif not done.refused:
            feedback.say("Nothing is out of sync")
        return redirect(url_for("overview.index"), code=303)
    feedback.say(f"Sync of {feedback.names(done.started)} started")
    # the live history of just these jobs (and any it joined), not the whole history
    ids = ",".join(record.id for record in [*done.started, *done.joined])
    return redirect(url_for("jobs.history", jobs=ids), code=303)


@blueprint.post("/check-all")
def check_all():
    """Check every project's definitions again, in the background, one at a time."""
    who = current_user()
    started: list[str] = []
    refused: dict[str, list[str]] = {}  # why -> the projects (all that share an environment a job changes)
    for state in services().monitor.snapshot.states:
        if state.check_status == "not_applicable":
            continue
        try:
            services().jobs.check(state.project, who)
        except JobError as exc:
            refused.setdefault(str(exc), []).append(state.project.name)
            continue
        started.append(state.project.name)
    if started:
        said = f"Checking {len(started)} project(s): the Loads column fills in as each answers"
    elif refused:
        said = "Nothing checked now"
    else:
        said = "Nothing to check: no project has an environment to load it in"
    for why, names in refused.items():
        said += f". Not {', '.join(names)}: {why}"
    feedback.say(said, feedback.ERROR if refused and not started else feedback.INFO)
    services().monitor.refresh()
    return redirect(url_for("overview.index"), code=303)


@blueprint.get("/jobs/<job_id>")
def show(job_id: str):
    record = _job_or_404(job_id)
    return render_template("job.html", job=record)


@blueprint.get("/jobs/<job_id>/log")
def log_chunk(job_id: str):
    """New log output from a byte offset; 286 (htmx stops polling) once the job has ended."""
    record = _job_or_404(job_id)
    offset = max(0, request.args.get("offset", 0, type=int))
    try:
        chunk = jobs.log_chunk(record, offset, tail=bool(request.args.get("tail")))
    except LogOffsetError as exc:
        abort(416, description=str(exc))
    if not chunk.text and not record.finished:
        return "", 204
    body = render_template(
        "fragments/log_chunk.html",
        job=record,
        html=to_html(chunk.text),
        offset=chunk.offset,
        done=chunk.done,
        skipped=chunk.skipped,
    )
    return body, htmx.STOP_POLLING if chunk.done else 200


@blueprint.get("/jobs/<job_id>/raw")
def raw_log(job_id: str):
    """The whole log as a download, sent by the server's I/O loop (wsgi.file_wrapper).

    A reader that never reads then costs a socket and an open file, not a worker thread:
    waitress hands a file wrapper to its event loop instead of writing from the thread.
    """
    record = _job_or_404(job_id)
    if not record.log_path:
        abort(404, description="this job has no log")
    try:
        return send_file(
            record.log_path,
            mimetype="text/plain",
            as_attachment=True,
            download_name=f"envboard-{record.id}.log",
            conditional=False,  # the log may still grow: no ranges or 304s on a moving file
            etag=False,
            max_age=0,
        )
    except OSError:
        abort(404, description="this job has no log")


@blueprint.get("/jobs/<job_id>/status")
def status_fragment(job_id: str):
    record = _job_or_404(job_id)
    # ended, and the monitor has published what it left (the job's end asked it to look again):
    # only then do the page's environment, plugins and buttons refetch, and polling stop
    snapshot = services().monitor.snapshot
    settled = (
        record.finished
        and services().jobs.active_job(record.project_id) is None
        and (snapshot.refreshed_at or 0) >= (record.ended_at or 0)
    )
    response = Response(render_template("fragments/job_status.html", job=record, settled=settled))
    if settled:
        htmx.trigger(response, "job-ended")
    return response


@blueprint.get("/jobs/<job_id>/said")
def said(job_id: str):
    """A message about a job ("Sync of X started"), once the job has ended: how it ended; 286 stops
    the message asking. 204 (left as it is) while the job runs."""
    record = _job_or_404(job_id)
    if not record.finished:
        return "", 204
    kind, message = feedback.job_ended(record)
    return render_template("fragments/said.html", kind=kind, message=message), htmx.STOP_POLLING


@blueprint.post("/jobs/<job_id>/cancel")
def cancel(job_id: str):
    _job_or_404(job_id)
    record = services().jobs.cancel(job_id, current_user())
    if record is not None and not record.finished:
        feedback.say(f"Cancel of the {record.action} of {project_name(record.project_id)} requested")
    if htmx.is_htmx():
        return feedback.with_flashes(render_template("fragments/job_status.html", job=record))
    return redirect(url_for("jobs.show", job_id=job_id), code=303)


def _history_context(data: jobs.History, scoped: bool) -> dict:
    """`scoped`: the page of one project (/projects/<id>/history), not the filtered history."""
    return {
        "jobs": data.jobs,
        "project": data.project.project if data.project else None,
        "who": data.who,
        "people": data.people,
        "ids": ",".join(data.ids) or None,
        "version": data.version,
        "scoped": scoped,
        "rollbackable": data.rollbackable,
        "pruned": data.pruned,
        "retention": data.retention,
        "projects": [state.project for state in services().monitor.snapshot.states],
    }


def _chosen_jobs() -> tuple[str, ...]:
    """`?jobs=<id>,<id>`: the jobs one Sync all started."""
    return tuple(filter(None, request.args.get("jobs", "")[:2000].split(",")))


def _history_data(project=None) -> jobs.History:
    return jobs.history(envboard(), project, who=request.args.get("who"), ids=_chosen_jobs())


@blueprint.get("/history")
def history():
    """Filtered by `?project=<id>` and `?who=<name>` (a plain GET form: works without JavaScript)."""
    return render_template("history.html", **_history_context(_history_data(_chosen_project()), scoped=False))


@blueprint.get("/projects/<project_id>/history")
def project_history(project_id: str):
    data = _history_data(project_state(project_id))
    return render_template("history.html", **_history_context(data, scoped=True))


@blueprint.get("/fragments/history")
def history_rows():
    """The history's rows alone, polled like the overview's; 204 while no row would change."""
    data = _history_data(_chosen_project())
    if request.args.get("since") == data.version:
        return "", 204
    scoped = data.project is not None and request.args.get("scoped") is not None  # a project's own page
    filtering = htmx.asked_by("history-filter")
    context = _history_context(data, scoped=scoped)
    response = Response(render_template("fragments/history_rows.html", **context, heading_oob=filtering))
    if filtering:  # as the user chooses: the address holds the filter
        chosen = context["project"]
        if scoped:
            address = url_for("jobs.project_history", project_id=chosen.id, who=data.who or None)
        else:
            address = url_for(
                "jobs.history",
                project=chosen.id if chosen else None,
                who=data.who or None,
                jobs=context["ids"],
            )
        htmx.replace_url(response, address)
    return response


def _chosen_project():
    """`?project=<id>` of the history and its JSON twin; an id the scan does not know is a 404."""
    chosen = request.args.get("project") or None
    return project_state(chosen) if chosen else None


@blueprint.get("/api/jobs")
def api_jobs():
    return jsonify(jobs.history(envboard(), _chosen_project(), who=request.args.get("who")).to_json())


@blueprint.get("/api/projects/<project_id>/history")
def api_project_history(project_id: str):
    data = jobs.history(envboard(), project_state(project_id), who=request.args.get("who"))
    return jsonify(data.to_json())


@blueprint.get("/api/jobs/<job_id>")
def api_job(job_id: str):
    return jsonify(_job_or_404(job_id).to_json())
