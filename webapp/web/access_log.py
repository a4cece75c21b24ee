"""One structured line per request on stderr: plain text, or JSON with --log-format json."""

from __future__ import annotations

import json
import logging
import re
import time

from flask import Flask, g, request

access = logging.getLogger("envboard.access")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data = {"time": round(record.created, 3), "level": record.levelname.lower(), "logger": record.name}
        data.update(getattr(record, "fields", {}) or {"message": record.getMessage()})
        return json.dumps(data, ensure_ascii=True)  # control characters always escaped


_PLAIN = re.compile(r"[!#-~]*")  # printable ASCII without space and double quote


def text_value(value: object) -> str:
    """A field for the text log: bare when plain, else a JSON string (controls, spaces escaped).

    A path is attacker-chosen: `%0a` or a space must not start a forged line or field.
    """
    text = "-" if value is None else str(value)
    if _PLAIN.fullmatch(text) and "=" not in text:
        return text
    return json.dumps(text)  # ensure_ascii: \n, \u2028 and every other control become escapes


def configure(log_format: str) -> None:
    handler = logging.StreamHandler()
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
    root = logging.getLogger("envboard")
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    root.propagate = False


def init_app(app: Flask) -> None:
    @app.before_request
    def _start_clock():
        g.request_started = time.perf_counter()

    @app.after_request
    def _log(response):
        user = g.get("user")
        fields = {
            "method": request.method,
            "path": request.path,
            "status": response.status_code,
            "ms": round((time.perf_counter() - g.get("request_started", time.perf_counter())) * 1000, 1),
            "user": user.name if user else None,
            "remote": request.remote_addr,
        }
        message = " ".join(f"{k}={text_value(v)}" for k, v in fields.items())
        access.info(message, extra={"fields": fields})
        return response
