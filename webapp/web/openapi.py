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
            "Definitions": {
                "type": "object",
                "required": ["id", "name", "status", "loads", "error", "definitions", "keys"],
                "properties": {
                    "id": {"type": "string"},
                    "name": {"type": "string"},
                    "status": {
                        "type": "string",
                        "enum": ["loads", "fails", "checking", "not_checked", "not_applicable"],
                    },
                    "loads": {"type": ["boolean", "null"]},
                    "error": {"type": ["object", "null"]},
                    "definitions": {"type": ["object", "null"]},
                    "keys": {"type": "object"},
                    "why": {"type": "string"},
                    "checked_at_iso": {"type": ["string", "null"]},
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
        "/api/projects/{project_id}/mode": _get(
            "What switching the mode would write (the preview page's data); nothing is written",
            _json("#/components/schemas/ModePreview", "ok"),
            [_path_param("project_id"), _query("to", "the target mode", list(MODES))],
            **{"409": _json("#/components/schemas/ModePreview", "the change cannot be made; error says why")},
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
