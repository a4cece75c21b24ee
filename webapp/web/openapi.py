"""The OpenAPI description of the JSON API, published at /api/openapi.json."""

from __future__ import annotations

from flask import Blueprint, jsonify

from .. import __version__
from ..core.workspace.dg import MODES
from .api_schemas import SCHEMAS

blueprint = Blueprint("openapi", __name__)

_ID = {"type": "string", "description": "an id from the workspace scan or the history"}
_ERROR = {
    "description": "not found, or not allowed",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}


_SLOWED = {
    "description": "too many wrong bearer tokens from this address: wait Retry-After seconds",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}


def _json(schema_ref: str, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": schema_ref}}}}


def _get(summary: str, ok: dict, parameters: list | None = None, **more: dict) -> dict:
    return {
        "get": {
            "summary": summary,
            "parameters": parameters or [],
            "responses": {"200": ok, "401": _ERROR, "404": _ERROR, "429": _SLOWED, **more},
        }
    }


_REFUSED = {
    "description": "refused: a viewer's role, or no CSRF token (sessions only; bearer tokens need none)",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}


def _post(
    summary: str, description: str, answers: dict, parameters: list | None = None, body: dict | None = None
) -> dict:
    """An action: what it does, what it answers (202 with a Location to poll for what runs on)."""
    operation: dict = {
        "summary": summary,
        "description": description,
        "parameters": parameters or [],
        "responses": {**answers, "401": _ERROR, "403": _REFUSED, "404": _ERROR, "429": _SLOWED},
    }
    if body is not None:
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    return {"post": operation}


def _accepted(schema_ref: str, description: str) -> dict:
    answer = _json(schema_ref, description)
    answer["headers"] = {"Location": {"description": "where to poll for it", "schema": {"type": "string"}}}
    return answer


_CONFLICT = _json("#/components/schemas/Error", "cannot be done now; message says why")


def _path_param(name: str) -> dict:
    return {"name": name, "in": "path", "required": True, "schema": _ID}


def _query(name: str, description: str, enum: list[str] | None = None) -> dict:
    schema: dict = {"type": "string"}
    if enum:
        schema["enum"] = enum
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema}


_FILTERS = [
    _query("q", "only projects whose name or path contains this"),
    _query("mode", "only projects in this mode", list(MODES)),
    _query("status", "only projects with this environment status"),
]
_WHO = _query("who", "only what this user did")


SPEC = {
    "openapi": "3.0.3",
    "info": {"title": "envboard", "version": __version__},
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": SCHEMAS,
    },
    "security": [{"bearer": []}, {}],
    "paths": {
        "/api/projects": _get(
            "Every project and its environment (the overview, filters included)",
            _json("#/components/schemas/Workspace", "ok"),
            _FILTERS,
        ),
        "/api/projects/{project_id}": _get(
            "One project", _json("#/components/schemas/Project", "ok"), [_path_param("project_id")]
        ),
        "/api/projects/{project_id}/packages": _get(
            "Every installed distribution of one project, against its uv.lock and pyproject.toml",
            _json("#/components/schemas/Packages", "ok"),
            [_path_param("project_id"), _query("q", "only packages whose name contains this")],
        ),
        "/api/projects/{project_id}/definitions": _get(
            "Does the project load: the definitions check's verdict, located error, counts and keys",
            _json("#/components/schemas/Definitions", "ok"),
            [_path_param("project_id"), _query("q", "only definitions whose key contains this")],
        ),
        "/api/versions": _get(
            "Packages by project: every distribution installed in two or more projects, and Python",
            _json("#/components/schemas/Versions", "ok"),
            [
                _query("q", "only packages whose name contains this"),
                _query("all", "0: only the Dagster family (dagster, dagster-*, dg) and Python", ["0", "1"]),
            ],
        ),
        "/api/projects/{project_id}/mode": {
            **_get(
                "What switching the mode would write (the preview page's data); nothing is written",
                _json("#/components/schemas/ModePreview", "ok"),
                [_path_param("project_id"), _query("to", "the target mode", list(MODES))],
                **{"409": _json("#/components/schemas/ModePreview", "the change cannot be made: see error")},
            ),
            **_post(
                "Switch the mode",
                "Writes the change GET on this address previewed, only if the file still has the preview's "
                "file_hash (else 409, nothing written). With sync (to persistent_uv), a sync starts too: "
                "202 and a Location to that job.",
                {
                    "200": _accepted("#/components/schemas/ModeWritten", "written; Location is the mode job"),
                    "202": _accepted("#/components/schemas/ModeWritten", "written, and the sync started"),
                    "400": _json("#/components/schemas/Error", "no file_hash, or the body is no object"),
                    "409": _CONFLICT,
                    "503": _json("#/components/schemas/Error", "previews all busy: retry after Retry-After"),
                },
                [_path_param("project_id")],
                {"$ref": "#/components/schemas/ModeChange"},
            ),
        },
        "/api/projects/{project_id}/sync": _post(
            "Sync one project",
            "Queues `uv sync` for the project, or joins the sync already queued or running (joined: true).",
            {
                "202": _accepted("#/components/schemas/JobStarted", "queued or joined; poll Location"),
                "409": _CONFLICT,
            },
            [_path_param("project_id")],
        ),
        "/api/sync-out-of-sync": _post(
            "Sync every out-of-sync project, and create missing environments",
            "What the overview's Sync all button does: a sync for each uv-managed project that uv says "
            "is out of sync or that has no environment yet.",
            {
                "202": _accepted("#/components/schemas/SyncAll", "started or joined; Location lists jobs"),
                "200": _json("#/components/schemas/SyncAll", "nothing out of sync, or all refused"),
            },
        ),
        "/api/jobs/{job_id}/cancel": _post(
            "Cancel a queued or running job",
            "Ends the job's whole process group; the job reads cancelled once it has gone.",
            {"202": _accepted("#/components/schemas/Job", "cancel asked; poll Location"), "409": _CONFLICT},
            [_path_param("job_id")],
        ),
        "/api/projects/{project_id}/plugins/refresh": _post(
            "Probe a project's plugins again",
            "Runs the plugin probe again in the background; the project's pending is true until it answers.",
            {"202": _accepted("#/components/schemas/Project", "probing; poll Location")},
            [_path_param("project_id")],
        ),
        "/api/projects/{project_id}/history": _get(
            "The jobs and mode changes of one project",
            _json("#/components/schemas/Jobs", "ok"),
            [_path_param("project_id"), _WHO],
        ),
        "/api/outdated": _get(
            "Each project's installed packages with a newer release on its own index (cached; checked "
            "in the background)",
            _json("#/components/schemas/Outdated", "ok"),
        ),
        "/api/upgrades/plan": _get(
            "What uv would change in each project's lock for an upgrade; nothing is written",
            _json("#/components/schemas/Plan", "ok"),
            [
                _query("target", "NAME or NAME==VERSION; dagster-family for the whole family"),
                _query("project", "a project id (repeatable); default: every project that has it"),
            ],
            **{
                "400": _json("#/components/schemas/Error", "the target is not a package name and version"),
                "503": _json("#/components/schemas/Error", "plans all busy: retry after Retry-After"),
            },
        ),
        "/api/jobs": _get(
            "Every job and mode change, newest first",
            _json("#/components/schemas/Jobs", "ok"),
            [_query("project", "only this project's (its id)"), _WHO],
        ),
        "/api/jobs/{job_id}": _get(
            "One job", _json("#/components/schemas/Job", "ok"), [_path_param("job_id")]
        ),
    },
}


@blueprint.get("/api/openapi.json")
def openapi():
    return jsonify(SPEC)
