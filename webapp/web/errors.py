"""Errors as people and scripts read them: JSON under /api/, a page elsewhere."""

from __future__ import annotations

from flask import Flask, Response, jsonify, render_template, request
from flask.globals import request_ctx
from werkzeug.exceptions import HTTPException, ServiceUnavailable

from ..core.history import HistoryError
from . import htmx


def _http_error(error: HTTPException):
    if isinstance(error.response, Response):
        return error.response  # an abort() that already built its answer
    if request.path.startswith("/api/"):
        name = (error.name or "error").lower()
        return jsonify({"error": name, "message": error.description}), error.code
    if request_ctx.url_adapter is None:  # a foreign Host: no URL can be built, so no page either
        return f"{error.code} {error.name}: {error.description}\n", error.code, {"Content-Type": "text/plain"}
    if error.code == 404 and request.method == "GET" and htmx.is_htmx():
        # a part of a page polling for something gone since the page loaded (a project left the
        # workspace): htmx swaps no 404, so it would poll on unseen; say so in its place, and stop
        message = f"{error.description}: it has gone since this page was loaded."
        return render_template("fragments/notice.html", kind="error", message=message), htmx.STOP_POLLING
    return render_template("error.html", error=error), error.code


def _history_error(error: HistoryError):
    """The state dir went away or broke under a running server: say so, never a 500."""
    return _http_error(ServiceUnavailable(description=f"the history cannot be read now: {error}"))


def init_app(app: Flask) -> None:
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(HistoryError, _history_error)
