"""Moments as JSON gives them to scripts: ISO 8601 with the server's UTC offset."""

from __future__ import annotations

from datetime import datetime


def iso(timestamp: float | None) -> str | None:
    """`1764282000.5` -> `'2026-11-27T22:20:00.500000+00:00'` (local time, explicit offset)."""
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp).astimezone().isoformat()
