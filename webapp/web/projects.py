"""One project's page: its resolved environment in full, and its plugin list."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for

from ..core.board import ProjectState
from ..core.plugins import probe_invocation

blueprint = Blueprint("projects", __name__, url_prefix="/projects")


def _board():
    return current_app.extensions["envboard.board"]


def _monitor():
    return current_app.extensions["envboard.monitor"]


def project_state(project_id: str) -> ProjectState:
    """Only ids from the scan address a project; anything else is a 404."""
    state = _monitor().state(project_id)
    if state is None:
        abort(404, description=f"no project with id {project_id!r} in this workspace")
    return state


def launcher_commands(state: ProjectState) -> dict[str, str]:
    """The exact command lines envboard runs for this project, as a person would type them."""
    if state.env is None:
        return {}
    resolver = _board().resolver
    probe = probe_invocation(resolver, state.env, Path("ANSWER.json"), Path("REQUEST.json"))
    commands = {"plugin probe": f"(cd {probe.cwd} && {probe.display()})"}
    if state.env.mode == "persistent_uv":
        sync = resolver.uv_invocation(state.project.path, ["sync", "--color", "always"])
        commands["sync"] = f"(cd {sync.cwd} && {sync.display()})"
    return commands


@blueprint.get("/<project_id>")
def show(project_id: str):
    state = project_state(project_id)
    return render_template("project.html", state=state, commands=launcher_commands(state))


@blueprint.get("/<project_id>/fragments/environment")
def environment_fragment(project_id: str):
    state = project_state(project_id)
    if state.env is None:  # the config broke meanwhile: the whole page tells it best
        response = current_app.response_class("")
        response.headers["HX-Refresh"] = "true"
        return response
    return render_template(
        "fragments/environment.html", state=state, project=state.project, commands=launcher_commands(state)
    )


@blueprint.get("/<project_id>/fragments/plugins")
def plugins_fragment(project_id: str):
    state = project_state(project_id)
    return render_template("fragments/plugins.html", state=state)


@blueprint.post("/<project_id>/plugins/refresh")
def refresh_plugins(project_id: str):
    state = project_state(project_id)
    _board().refresh_plugins(state.project)
    state = _monitor().refresh_project(project_id) or state
    if request.headers.get("HX-Request"):
        return render_template("fragments/plugins.html", state=state)
    return redirect(url_for("projects.show", project_id=project_id), code=303)
