"""Request safety: CSRF tokens on every state-changing request, and security headers."""

from __future__ import annotations

import hmac
import secrets

from flask import Flask, abort, request, session

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"

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


def _check_csrf() -> None:
    if request.method in SAFE_METHODS:
        return
    if request.blueprint == "api" and request.authorization and request.authorization.type == "bearer":
        return  # scripts with a bearer token carry no cookie a foreign page could ride on
    expected = session.get(CSRF_FIELD)
    given = request.headers.get(CSRF_HEADER) or request.form.get(CSRF_FIELD)
    if not expected or not given or not hmac.compare_digest(expected, given):
        abort(403, description="missing or wrong CSRF token: reload the page and try again")
    # a browser tells where a request came from; refuse other sites outright
    if request.headers.get("Sec-Fetch-Site") == "cross-site":
        abort(403, description="cross-site request refused")


def _headers(response):
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Frame-Options", "DENY")
    return response


def init_app(app: Flask) -> None:
    app.before_request(_check_csrf)
    app.after_request(_headers)
    app.jinja_env.globals["csrf_token"] = csrf_token


def current_user() -> str:
    """Who is acting; "local" in single-user mode (before users and roles exist)."""
    return "local"
