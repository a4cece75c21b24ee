"""Signing in with a token, and out; failed attempts slow the guesser down, not the team."""

from __future__ import annotations

import contextlib
from urllib.parse import urlsplit, urlunsplit

from flask import Blueprint, abort, current_app, redirect, render_template, request, session, url_for

from ..core.access.sessions import SessionStoreError
from ..core.access.users import hash_token
from .services import services

blueprint = Blueprint("auth", __name__)


def safe_next(target: str | None) -> str:
    """A path of this site built from `target`, or the overview; never another host."""
    fallback = url_for("overview.index")
    if not target or len(target) > 2000:
        return fallback
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in target) or "\\" in target:
        return fallback  # browsers drop tabs/newlines and read \ as /: `/\t/evil` is `//evil` to them
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/"):
        return fallback
    path = "/" + parts.path.lstrip("/")  # never `//host`
    return urlunsplit(("", "", path, parts.query, ""))


def sign_in_problem() -> str | None:
    """Why nobody can sign in right now (the session store cannot be written), or None."""
    problem = services().sessions.problem()
    return f"Sign-in is unavailable: {problem}. Bearer tokens still work." if problem else None


def _form(error: str | None, next_target: str | None, status: int = 200):
    return render_template("signin.html", error=error, next=next_target or ""), status


@blueprint.get("/signin")
def signin_form():
    if current_app.config.get("ENVBOARD_USERS") is None:
        return redirect(url_for("overview.index"))
    problem = sign_in_problem()
    return _form(problem, request.args.get("next", ""), 503 if problem else 200)


@blueprint.post("/signin")
def signin():
    users = current_app.config.get("ENVBOARD_USERS")
    if users is None:
        return redirect(url_for("overview.index"))
    limiter = services().signin_limiter
    token = request.form.get("token", "").strip()
    next_target = request.form.get("next")
    wait = limiter.blocked_for(request.remote_addr, token)
    if wait > 0:
        response = current_app.response_class(
            *_form(f"Too many failed attempts from here; try again in {int(wait) + 1} s.", next_target, 429)
        )
        response.headers["Retry-After"] = str(int(wait) + 1)
        abort(response)
    user = users.authenticate(token)
    if user is None:
        limiter.fail(request.remote_addr, token)
        return _form("That token is not valid.", next_target, 401)
    limiter.succeed(token)
    try:
        session_id = services().sessions.create(user.name, hash_token(token))
    except SessionStoreError as exc:
        return _form(f"Sign-in is unavailable: {exc}. Bearer tokens still work.", next_target, 503)
    session.clear()  # a fresh session (and CSRF token) for the signed-in user
    session.permanent = True
    session["user"] = user.name
    session["sid"] = session_id
    return redirect(safe_next(next_target), code=303)


@blueprint.post("/signout")
def signout():
    session_id = session.get("sid")
    if session_id:
        # an unreadable store cannot sign anyone in either; the cookie goes in any case
        with contextlib.suppress(SessionStoreError):
            services().sessions.end(session_id)
    session.clear()
    return redirect(url_for("auth.signin_form"), code=303)
