"""The OpenAPI description of the JSON API, published at /api/openapi.json."""

from __future__ import annotations

from flask import Blueprint, jsonify

from .. import __version__

blueprint = Blueprint("openapi", __name__)

_ID = {"type": "string", "description": "an id from the workspace scan or the history"}
_ERROR = {
    "description": "not found, or not allowed",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}


def _json(schema_ref: str, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": schema_ref}}}}


def _get(summary: str, ok: dict, parameters: list | None = None) -> dict:
    return {
        "get": {
            "summary": summary,
            "parameters": parameters or [],
            "responses": {"200": ok, "401": _ERROR, "404": _ERROR},
        }
    }


def _path_param(name: str) -> dict:
    return {"name": name, "in": "path", "required": True, "schema": _ID}


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
                "required": ["id", "project_id", "action", "who", "status"],
                "properties": {
                    "id": {"type": "string"},
                    "project_id": {"type": "string"},
                    "action": {"type": "string", "enum": ["sync", "mode"]},
                    "who": {"type": "string"},
                    "status": {
                        "type": "string",
                        "enum": ["queued", "running", "succeeded", "failed", "cancelled", "interrupted"],
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
            "Every project and its environment", _json("#/components/schemas/Workspace", "ok")
        ),
        "/api/projects/{project_id}": _get(
            "One project", _json("#/components/schemas/Project", "ok"), [_path_param("project_id")]
        ),
        "/api/projects/{project_id}/history": _get(
            "The jobs and mode changes of one project",
            _json("#/components/schemas/Jobs", "ok"),
            [_path_param("project_id")],
        ),
        "/api/jobs": _get(
            "Every job and mode change, newest first", _json("#/components/schemas/Jobs", "ok")
        ),
        "/api/jobs/{job_id}": _get(
            "One job", _json("#/components/schemas/Job", "ok"), [_path_param("job_id")]
        ),
    },
}


@blueprint.get("/api/openapi.json")
def openapi():
    return jsonify(SPEC)
