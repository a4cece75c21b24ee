"""Who is asking, and may they: identity, roles, CSRF on every state change, headers."""

from __future__ import annotations

import hmac
import secrets

from flask import Flask, abort, current_app, g, jsonify, redirect, request, session, url_for

from ..core.users import LOCAL_USER, User

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
OPEN_ENDPOINTS = {"static", "auth.signin", "auth.signin_form", "ops.healthz", "ops.readyz", "openapi.openapi"}
# checks its own readers (signed-in users, the metrics token, or anyone with --metrics-public)
OPEN_ENDPOINTS.add("metrics.metrics")
ANONYMOUS = User("anonymous", "viewer")

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)


def csrf_token() -> str:
    """One token per session, no expiry: a dashboard may stay open all day."""
    token = session.get(CSRF_FIELD)
    if not token:
        token = secrets.token_urlsafe(32)
        session[CSRF_FIELD] = token
    return token


def current_user() -> str:
    """The name recorded in the history for what this request does."""
    return g.user.name


def _identify() -> None:
    users = current_app.config.get("ENVBOARD_USERS")
    g.user = None
    g.bearer = False
    if users is None:  # single-user mode: only reachable on loopback
        g.user = LOCAL_USER
        return
    header = current_app.config.get("ENVBOARD_PROXY_USER_HEADER")
    if header and request.headers.get(header):
        g.user = users.get(request.headers[header])
    authorization = request.authorization
    if (
        g.user is None
        and authorization is not None
        and authorization.type == "bearer"
        and authorization.token
    ):
        g.user = users.authenticate(authorization.token)
        g.bearer = g.user is not None
    if g.user is None and session.get("user"):
        g.user = users.get(session["user"])  # a removed user loses access at once
    if g.user is None and current_app.config.get("ENVBOARD_ALLOW_ANONYMOUS_VIEW"):
        g.user = ANONYMOUS
    if g.user is None and request.endpoint not in OPEN_ENDPOINTS:
        if request.path.startswith("/api/"):
            response = jsonify({"error": "unauthorized", "message": "sign in or send Authorization: Bearer"})
            response.status_code = 401
            response.headers["WWW-Authenticate"] = "Bearer"
            abort(response)
        abort(
            redirect(
                url_for(
                    "auth.signin_form",
                    next=request.full_path.rstrip("?") if request.method == "GET" else None,
                )
            )
        )


def _check_csrf() -> None:
    if request.method in SAFE_METHODS:
        return
    if g.get("bearer"):
        return  # a bearer token is not sent by browsers on their own, so no page can ride on it
    if request.headers.get("Sec-Fetch-Site") == "cross-site":
        abort(403, description="cross-site request refused")
    expected = session.get(CSRF_FIELD)
    given = request.headers.get(CSRF_HEADER) or request.form.get(CSRF_FIELD)
    if not expected or not given or not hmac.compare_digest(expected, given):
        abort(403, description="missing or wrong CSRF token: reload the page and try again")


def _check_role() -> None:
    if (
        request.method in SAFE_METHODS
        or request.endpoint in OPEN_ENDPOINTS
        or request.endpoint == "auth.signout"
    ):
        return
    user = g.get("user")
    if user is None or not user.can_operate:
        abort(
            403,
            description=f"{user.name if user else 'anonymous'} is a viewer: only operators may change things",
        )


def _headers(response):
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Frame-Options", "DENY")
    return response


def permission_problem() -> str | None:
    """Why the current user may not act, for disabled buttons; None when they may."""
    user = g.get("user")
    if user is None or not user.can_operate:
        name = user.name if user else "anonymous"
        return f"{name} is a viewer; ask an operator"
    return None


def init_app(app: Flask) -> None:
    app.before_request(_identify)
    app.before_request(_check_csrf)
    app.before_request(_check_role)
    app.after_request(_headers)
    app.jinja_env.globals["csrf_token"] = csrf_token
    app.jinja_env.globals["permission_problem"] = permission_problem
