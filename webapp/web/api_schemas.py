"""The shapes of what the JSON API answers (OpenAPI component schemas), apart from the routes
that use them (`openapi.py`): a client's code generator reads these."""

from __future__ import annotations

from .api_action_schemas import ACTION_SCHEMAS

SCHEMAS = {
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
            "action": {"type": "string", "enum": ["sync", "mode", "upgrade", "rollback"]},
            "who": {"type": "string"},
            "queued_at": {"type": "number", "description": "seconds since the epoch"},
            "queued_at_iso": {"type": "string", "format": "date-time"},
            "started_at_iso": {"type": "string", "format": "date-time", "nullable": True},
            "ended_at_iso": {"type": "string", "format": "date-time", "nullable": True},
            "files_kept": {
                "type": "boolean",
                "nullable": True,
                "description": "in a history: whether the files the job replaced are still kept "
                "(it can be rolled back); null for jobs that keep none",
            },
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
                    "required": ["name", "versions", "skew", "newer"],
                    "properties": {
                        "name": {"type": "string"},
                        "versions": {
                            "type": "object",
                            "description": "project id -> version, null where not installed",
                            "additionalProperties": {"type": "string", "nullable": True},
                        },
                        "skew": {"type": "boolean"},
                        "newer": {
                            "type": "object",
                            "description": "project id -> a newer release on that project's index",
                            "additionalProperties": {"type": "string"},
                        },
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
            "loads": {"type": "boolean", "nullable": True},
            "error": {"type": "object", "nullable": True},
            "definitions": {"type": "object", "nullable": True},
            "counting": {
                "type": "boolean",
                "description": "dg's check said it loads; the definitions are still being listed",
            },
            "keys": {"type": "object"},
            "why": {"type": "string"},
            "checked_at_iso": {"type": "string", "nullable": True},
            "webserver": {
                "type": "object",
                "nullable": True,
                "description": "the Dagster webserver's own status of the code location (--dagster-url); "
                "null without one",
                "properties": {
                    "url": {"type": "string"},
                    "location": {"type": "string"},
                    "reachable": {"type": "boolean", "nullable": True},
                    "load_status": {"type": "string", "nullable": True},
                    "loads": {"type": "boolean", "nullable": True},
                    "error": {"type": "string", "nullable": True},
                    "reason": {"type": "string", "nullable": True},
                    "problem": {"type": "string", "nullable": True},
                    "asked_at_iso": {"type": "string", "nullable": True},
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
                    "required": [
                        "name",
                        "version",
                        "locked",
                        "planned",
                        "direct",
                        "latest",
                        "latest_unknown",
                    ],
                    "properties": {
                        "name": {"type": "string"},
                        "version": {"type": "string", "nullable": True},
                        "locked": {
                            "type": "string",
                            "nullable": True,
                            "description": "what uv.lock pins; null when not in it or no lock",
                        },
                        "planned": {
                            "type": "string",
                            "nullable": True,
                            "description": "what uv sync would install, when not yet locked",
                        },
                        "direct": {"type": "boolean"},
                        "latest": {
                            "type": "string",
                            "nullable": True,
                            "description": "the newest release on the project's own index (the "
                            "installed version when nothing is newer); null when not known",
                        },
                        "latest_unknown": {
                            "type": "string",
                            "nullable": True,
                            "description": "why latest is not known (index not reachable since ..., "
                            "uv offline, an editable install, not checked yet)",
                        },
                    },
                },
            },
        },
    },
    "Outdated": {
        "type": "object",
        "required": ["projects"],
        "properties": {
            "projects": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["id", "name", "outdated", "index_error"],
                    "properties": {
                        "id": {"type": "string"},
                        "name": {"type": "string"},
                        "outdated": {
                            "type": "array",
                            "description": "direct dependencies first",
                            "items": {
                                "type": "object",
                                "required": ["name", "version", "latest", "direct"],
                                "properties": {
                                    "name": {"type": "string"},
                                    "version": {"type": "string"},
                                    "latest": {"type": "string"},
                                    "direct": {"type": "boolean"},
                                },
                            },
                        },
                        "index_error": {
                            "type": "string",
                            "nullable": True,
                            "description": "index not reachable since ...: once per project",
                        },
                    },
                },
            }
        },
    },
    "Plan": {
        "type": "object",
        "required": ["target", "projects"],
        "properties": {
            "target": {
                "type": "object",
                "required": ["name", "version"],
                "properties": {
                    "name": {"type": "string"},
                    "version": {"type": "string", "nullable": True},
                },
            },
            "projects": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["id", "name", "changes", "blocked"],
                    "properties": {
                        "id": {"type": "string"},
                        "name": {"type": "string"},
                        "changes": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["name", "from", "to"],
                                "properties": {
                                    "name": {"type": "string"},
                                    "from": {"type": "string", "nullable": True},
                                    "to": {"type": "string", "nullable": True},
                                },
                            },
                        },
                        "blocked": {"type": "string", "nullable": True},
                    },
                },
            },
        },
    },
    "Jobs": {
        "type": "object",
        "properties": {"jobs": {"type": "array", "items": {"$ref": "#/components/schemas/Job"}}},
    },
    **ACTION_SCHEMAS,
}
