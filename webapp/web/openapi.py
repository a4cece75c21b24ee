"""The OpenAPI description of the JSON API, published at /api/openapi.json."""

from __future__ import annotations

from flask import Blueprint, jsonify

from .. import __version__
from ..core.workspace.dg import MODES

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
        "schemas": {
            "Error": {
                "type": "object",
                "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
            },
            "Project": {
                "type": "object",
                "required": ["id", "name", "path", "mode", "error", "environment", "plugins"],
                "properties": {
                    "id": {"type": "string"},
                    "name": {"type": "string"},
                    "path": {"type": "string"},
                    "mode": {"type": "string", "nullable": True, "enum": ["active", "persistent_uv", None]},
                    "error": {"type": "string", "nullable": True},
                    "last_change_iso": {"type": "string", "format": "date-time", "nullable": True},
                    "environment": {"type": "object", "nullable": True},
                    "plugins": {"type": "object", "nullable": True},
                },
            },
            "Workspace": {
                "type": "object",
                "required": ["workspace", "projects"],
                "properties": {
                    "workspace": {"type": "string"},
                    "projects": {"type": "array", "items": {"$ref": "#/components/schemas/Project"}},
                },
            },
            "Job": {
                "type": "object",
                "required": ["id", "project_id", "action", "who", "status", "queued_at", "queued_at_iso"],
                "properties": {
                    "id": {"type": "string"},
                    "project_id": {"type": "string"},
                    "action": {"type": "string", "enum": ["sync", "mode"]},
                    "who": {"type": "string"},
                    "queued_at": {"type": "number", "description": "seconds since the epoch"},
                    "queued_at_iso": {"type": "string", "format": "date-time"},
                    "started_at_iso": {"type": "string", "format": "date-time", "nullable": True},
                    "ended_at_iso": {"type": "string", "format": "date-time", "nullable": True},
                    "status": {
                        "type": "string",
                        "enum": ["queued", "running", "succeeded", "failed", "cancelled", "interrupted"],
                    },
                },
            },
            "ModePreview": {
                "type": "object",
                "required": ["project", "target", "error", "diff"],
                "properties": {
                    "project": {"type": "string"},
                    "target": {"type": "string"},
                    "error": {"type": "string", "nullable": True},
                    "current_mode": {"type": "string", "nullable": True},
                    "file": {"type": "string", "nullable": True},
                    "file_hash": {"type": "string", "nullable": True},
                    "diff": {"type": "string", "nullable": True},
                    "python": {"type": "string", "nullable": True},
                    "venv": {"type": "string", "nullable": True},
                },
            },
            "Versions": {
                "type": "object",
                "required": ["projects", "packages"],
                "properties": {
                    "projects": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["id", "name"],
                            "properties": {"id": {"type": "string"}, "name": {"type": "string"}},
                        },
                    },
                    "packages": {
                        "type": "array",
                        "description": "every distribution installed in two or more projects, and Python",
                        "items": {
                            "type": "object",
                            "required": ["name", "versions", "skew"],
                            "properties": {
                                "name": {"type": "string"},
                                "versions": {
                                    "type": "object",
                                    "description": "project id -> version, null where not installed",
                                    "additionalProperties": {"type": "string", "nullable": True},
                                },
                                "skew": {"type": "boolean"},
                            },
                        },
                    },
                },
            },
            "Packages": {
                "type": "object",
                "required": ["project", "packages"],
                "properties": {
                    "project": {"type": "string"},
                    "packages": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["name", "version", "locked", "direct"],
                            "properties": {
                                "name": {"type": "string"},
                                "version": {"type": "string", "nullable": True},
                                "locked": {
                                    "type": "string",
                                    "nullable": True,
                                    "description": "what uv.lock pins; null when not in it or no lock",
                                },
                                "direct": {"type": "boolean"},
                            },
                        },
                    },
                },
            },
            "JobStarted": {
                "allOf": [
                    {"$ref": "#/components/schemas/Job"},
                    {
                        "type": "object",
                        "properties": {
                            "joined": {"type": "boolean", "description": "one was already queued or running"}
                        },
                    },
                ],
            },
            "SyncAll": {
                "type": "object",
                "required": ["started", "joined", "refused"],
                "properties": {
                    "started": {"type": "array", "items": {"$ref": "#/components/schemas/Job"}},
                    "joined": {"type": "array", "items": {"$ref": "#/components/schemas/Job"}},
                    "refused": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["project_id", "reason"],
                            "properties": {"project_id": {"type": "string"}, "reason": {"type": "string"}},
                        },
                    },
                },
            },
            "ModeChange": {
                "type": "object",
                "required": ["to", "file_hash"],
                "properties": {
                    "to": {"type": "string", "enum": list(MODES)},
                    "file_hash": {"type": "string", "description": "the preview's file_hash"},
                    "sync": {"type": "boolean", "description": "to persistent_uv: start a sync at once"},
                },
            },
            "ModeWritten": {
                "type": "object",
                "required": ["job", "sync", "sync_refused"],
                "properties": {
                    "job": {"$ref": "#/components/schemas/Job"},
                    "sync": {"type": "object", "nullable": True, "description": "the sync started, a Job"},
                    "sync_refused": {"type": "string", "nullable": True},
                },
            },
            "Jobs": {
                "type": "object",
                "properties": {"jobs": {"type": "array", "items": {"$ref": "#/components/schemas/Job"}}},
            },
        },
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
