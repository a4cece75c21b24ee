"""The Upgrades page (outdated packages, a plan to review, apply) and History's rollback."""

from __future__ import annotations

from flask import Blueprint, abort, jsonify, redirect, render_template, request, url_for
from werkzeug.exceptions import ServiceUnavailable

from ..core.jobs.errors import JobError
from ..core.pages import upgrades
from ..core.upgrades.apply import UpgradeRequest, start_rollback, start_upgrade
from ..core.upgrades.target import FAMILY, Target
from . import feedback
from .security import current_user
from .services import envboard, services

blueprint = Blueprint("upgrades", __name__)


def _states():
    return list(services().monitor.snapshot.states)


def _target_or_400() -> Target:
    """`?target=NAME[==VERSION]` (or `name` and `version` from the page's form)."""
    text = request.values.get("target") or request.values.get("name", "")
    version = request.values.get("version", "").strip()
    if version and "==" not in text:
        text = f"{text}=={version}"
    try:
        return Target.parse(text[:300])
    except ValueError as exc:
        abort(400, description=str(exc))


def _plan() -> upgrades.UpgradePlan:
    known = {state.id for state in _states()}
    chosen = request.values.getlist("project")
    unknown = [project_id for project_id in chosen if project_id not in known]
    if unknown:
        abort(404, description=f"no project {unknown[0]!r}")
    try:
        return upgrades.upgrade_plan(envboard(), _states(), _target_or_400(), chosen or None)
    except upgrades.PlansBusy as exc:
        raise ServiceUnavailable(str(exc), retry_after=2) from None


@blueprint.get("/upgrades")
def index():
    data = upgrades.outdated(envboard(), _states())
    return render_template("upgrades.html", data=data, states=_states(), family=FAMILY)


@blueprint.get("/api/outdated")
def api_outdated():
    return jsonify(upgrades.outdated(envboard(), _states()).to_json())


@blueprint.get("/upgrades/plan")
def plan():
    return render_template("upgrade_plan.html", data=_plan())


@blueprint.get("/api/upgrades/plan")
def api_plan():
    return jsonify(_plan().to_json())


@blueprint.post("/upgrades/apply")
def apply():
    """Plan again for the approved projects (the files may have changed since the review), then
    one job per project that can still be upgraded."""
    approved = request.form.getlist("approve")
    if not approved:
        feedback.say("No project was approved; nothing was started", "error")
        return redirect(url_for("upgrades.index"), code=303)
    try:
        data = upgrades.upgrade_plan(envboard(), _states(), _target_or_400(), approved)
    except upgrades.PlansBusy as exc:
        feedback.say(f"Nothing was started: {exc}", "error")
        return redirect(url_for("upgrades.index"), code=303)
    started = []
    for project_plan in data.plan.projects:
        if not project_plan.approvable:
            feedback.say(
                f"{project_plan.name}: not upgraded: {project_plan.blocked or 'nothing to change'}", "error"
            )
            continue
        state = data.states[project_plan.project_id]
        upgrade = UpgradeRequest(data.plan.target, tuple(upgrades.installed(state)), project_plan.edit)
        try:
            started.append(start_upgrade(services().jobs, state.project, upgrade, current_user()))
        except JobError as exc:
            feedback.say(f"{project_plan.name}: not upgraded: {exc}", "error")
    if started:
        feedback.say(f"Upgrade of {feedback.names(started)} started")
    return redirect(url_for("jobs.history"), code=303)


@blueprint.post("/jobs/<job_id>/rollback")
def rollback(job_id: str):
    if services().jobs.get(job_id) is None:
        abort(404, description=f"no job {job_id!r}")
    try:
        record = start_rollback(services().jobs, job_id, current_user())
    except JobError as exc:
        abort(409, description=str(exc))
    feedback.say(f"Rollback to before job {job_id} started")
    return redirect(url_for("jobs.show", job_id=record.id), code=303)
