"""Errors as people and scripts read them: JSON under /api/, a page elsewhere."""

from __future__ import annotations

from urllib.parse import urlencode

from flask import Flask, Response, jsonify, make_response, render_template, request
from flask.globals import request_ctx
from werkzeug.exceptions import HTTPException, ServiceUnavailable

from ..core.jobs.history import HistoryError
from . import htmx


def _http_error(error: HTTPException):
    if isinstance(error.response, Response):
        return error.response  # an abort() that already built its answer
    response = make_response(_answer(error))
    for name, value in error.get_headers():  # the error's own: Retry-After, Allow, ...
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


def _answer(error: HTTPException):
    if request.path.startswith("/api/"):
        name = (error.name or "error").lower()
        return jsonify({"error": name, "message": error.description}), error.code
    if request_ctx.url_adapter is None:  # a foreign Host: no URL can be built, so no page either
        return f"{error.code} {error.name}: {error.description}\n", error.code, {"Content-Type": "text/plain"}
    if htmx.is_htmx():
        if error.code == 404 and request.method == "GET":
            return _gone()
        # a button's request: the page shows the message where it shows what just happened
        return render_template("fragments/notice.html", kind="error", message=error.description), error.code
    return render_template("error.html", error=error), error.code


def _gone():
    """A part of a page polling for what has gone since the page loaded (a project left the workspace).

    htmx swaps no 404, so the part would poll on unseen. It is replaced by a notice that goes
    on asking the same address, so the part comes back by itself if the project does.
    """
    project_id = (request.view_args or {}).get("project_id")
    if project_id:
        message = f"{project_id} is no longer in this workspace (was it removed from its dg.toml?)."
    else:
        message = "What this part of the page showed is gone."
    args = {key: value for key, value in request.args.items() if key != "since"}  # the next answer is whole
    again = request.path + ("?" + urlencode(args) if args else "")
    return render_template("fragments/gone.html", message=message, again=again, target=htmx.target())


def _history_error(error: HistoryError):
    """The state dir went away or broke under a running server: say so, never a 500."""
    return _http_error(ServiceUnavailable(description=f"the history cannot be read now: {error}"))


def init_app(app: Flask) -> None:
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(HistoryError, _history_error)
