"""One project's page: its resolved environment in full, and its plugin list."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, jsonify, redirect, render_template, request, url_for

from ..core.jobs.errors import JobError
from ..core.pages import inventory, project
from ..core.pages.overview import MAX_QUERY
from . import feedback, htmx
from .security import current_user
from .services import envboard, no_such_project, project_or_404, project_state, services

blueprint = Blueprint("projects", __name__)


@blueprint.get("/projects/<project_id>")
def show(project_id: str):
    page = project_or_404(project_id)
    return render_template(
        "project.html",
        state=page.state,
        commands=page.commands,
        data=definitions_or_404(project_id),
        isolation=page.isolation,
    )


@blueprint.get("/api/projects/<project_id>")
def api_project(project_id: str):
    return jsonify(project_or_404(project_id).to_json())


def packages_or_404(project_id: str) -> inventory.Packages:
    data = project.packages(envboard(), project_id, request.args.get("q", "")[:MAX_QUERY])
    if data is None:
        no_such_project(project_id)
    return data


def _packages_context(data: inventory.Packages) -> dict:
    """What the Packages page and its polled fragment both render."""
    state = data.state
    # a probe or uv's checks are running: their answers come within seconds, so look often
    return {"data": data, "state": state, "project": state.project, "busy": state.pending}


@blueprint.get("/projects/<project_id>/packages")
def packages(project_id: str):
    return render_template("packages.html", **_packages_context(packages_or_404(project_id)))


@blueprint.get("/projects/<project_id>/fragments/packages")
def packages_fragment(project_id: str):
    """The counts, notices and table alone; 204 (htmx leaves the page alone) when nothing changed."""
    data = packages_or_404(project_id)
    if htmx.still_current(data.version):
        return htmx.NOTHING_CHANGED
    response = current_app.make_response(
        render_template("fragments/packages_live.html", **_packages_context(data))
    )
    if htmx.asked_by("packages-filters"):  # as the user types: the address holds the filter
        htmx.replace_url(response, url_for("projects.packages", project_id=project_id, q=data.q or None))
    return response


@blueprint.get("/api/projects/<project_id>/packages")
def api_packages(project_id: str):
    return jsonify(packages_or_404(project_id).to_json())


@blueprint.get("/projects/<project_id>/fragments/environment")
def environment_fragment(project_id: str):
    page = project_or_404(project_id)
    waiting_for_a_fix = request.args.get("broken") is not None  # asked by the error page
    if waiting_for_a_fix:
        if page.state.env is None:
            return "", 204  # still broken: the page stays as it is
        return htmx.refresh(current_app.response_class(""))  # fixed: the whole page, environment and all
    if page.state.env is None:  # the config broke meanwhile: the whole page tells it best
        return htmx.refresh(current_app.response_class(""))
    return render_template(
        "fragments/environment.html", state=page.state, project=page.state.project, commands=page.commands
    )


@blueprint.get("/projects/<project_id>/fragments/plugins")
def plugins_fragment(project_id: str):
    return render_template("fragments/plugins.html", state=project_state(project_id))


@blueprint.get("/projects/<project_id>/fragments/actions")
def actions_fragment(project_id: str):
    """The Sync and mode buttons, fetched again when a job ends (Syncing… becomes Sync)."""
    return render_template("fragments/action_buttons.html", project=project_state(project_id).project)


@blueprint.post("/projects/<project_id>/plugins/refresh")
def refresh_plugins(project_id: str):
    state = project_state(project_id)
    services().board.refresh_plugins(state.project)
    state = services().monitor.refresh_project(project_id) or state
    if htmx.is_htmx():
        return render_template("fragments/plugins.html", state=state)
    return redirect(url_for("projects.show", project_id=project_id), code=303)


def definitions_or_404(project_id: str) -> project.Definitions:
    data = project.definitions(envboard(), project_id, request.args.get("q", "")[:200])
    if data is None:
        no_such_project(project_id)
    return data


@blueprint.get("/projects/<project_id>/fragments/definitions")
def definitions_fragment(project_id: str):
    return render_template("fragments/definitions.html", data=definitions_or_404(project_id))


@blueprint.get("/api/projects/<project_id>/definitions")
def api_definitions(project_id: str):
    return jsonify(definitions_or_404(project_id).to_json())


@blueprint.post("/projects/<project_id>/check")
def check(project_id: str):
    """Check now whether the project loads (in the background; the section polls until it answers)."""
    state = project_state(project_id)
    try:
        services().jobs.check(state.project, current_user())
    except JobError as exc:
        if htmx.is_htmx():  # the section stays (it says why Check is unavailable), the reason in #flashes
            feedback.say(str(exc), feedback.ERROR)
            fragment = render_template("fragments/definitions.html", data=definitions_or_404(project_id))
            return feedback.with_flashes(fragment), 409
        abort(409, description=str(exc))
    services().monitor.refresh_project(project_id)
    if htmx.is_htmx():
        return render_template("fragments/definitions.html", data=definitions_or_404(project_id))
    return redirect(url_for("projects.show", project_id=project_id), code=303)
