"""Signing in with a token, and out; failed attempts are rate limited per client."""

from __future__ import annotations

import threading
import time
from collections import deque

from flask import Blueprint, abort, current_app, redirect, render_template, request, session, url_for

blueprint = Blueprint("auth", __name__)

MAX_FAILURES = 5
WINDOW = 60.0


class FailureLimiter:
    """At most MAX_FAILURES failed sign-ins per client address in any WINDOW seconds."""

    def __init__(self, limit: int = MAX_FAILURES, window: float = WINDOW) -> None:
        self.limit, self.window = limit, window
        self._failures: dict[str, deque] = {}
        self._lock = threading.Lock()

    def blocked_for(self, client: str) -> float:
        with self._lock:
            recent = self._recent(client)
            return self.window - (time.monotonic() - recent[0]) if len(recent) >= self.limit else 0.0

    def fail(self, client: str) -> None:
        with self._lock:
            self._recent(client).append(time.monotonic())

    def _recent(self, client: str) -> deque:
        entries = self._failures.setdefault(client, deque())
        while entries and time.monotonic() - entries[0] > self.window:
            entries.popleft()
        return entries


def _safe_next(target: str | None) -> str:
    # only paths of this site: never an absolute URL or a scheme-relative //host
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("overview.index")


@blueprint.get("/signin")
def signin_form():
    if current_app.config.get("ENVBOARD_USERS") is None:
        return redirect(url_for("overview.index"))
    return render_template("signin.html", error=None, next=request.args.get("next", ""))


@blueprint.post("/signin")
def signin():
    users = current_app.config.get("ENVBOARD_USERS")
    if users is None:
        return redirect(url_for("overview.index"))
    from .services import services

    limiter = services().signin_limiter
    client = request.remote_addr or "unknown"
    wait = limiter.blocked_for(client)
    if wait > 0:
        response = current_app.response_class(
            render_template(
                "signin.html", error=f"Too many failed attempts; try again in {int(wait) + 1} s.", next=""
            ),
            status=429,
        )
        response.headers["Retry-After"] = str(int(wait) + 1)
        abort(response)
    user = users.authenticate(request.form.get("token", "").strip())
    if user is None:
        limiter.fail(client)
        return render_template(
            "signin.html", error="That token is not valid.", next=request.form.get("next")
        ), 401
    session.clear()  # a fresh session (and CSRF token) for the signed-in user
    session.permanent = True
    session["user"] = user.name
    return redirect(_safe_next(request.form.get("next")), code=303)


@blueprint.post("/signout")
def signout():
    session.clear()
    return redirect(url_for("auth.signin_form"), code=303)
