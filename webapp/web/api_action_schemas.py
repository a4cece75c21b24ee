"""The shapes of what the JSON action endpoints take and answer (a sync started, a mode
change asked and written), apart from the resources' shapes in `api_schemas.py`."""

from __future__ import annotations

from ..core.workspace.dg import MODES

ACTION_SCHEMAS = {
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
}
