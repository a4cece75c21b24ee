"""Who is asking, and may they: identity, roles, CSRF on every state change, headers.

Single-user mode (no users file) has one operator: whoever holds the token `envboard
serve` printed at start (as Jupyter Server does). Its link, opened once, gives the browser
a signed session; scripts send it as a bearer token. Anyone else who reaches the port (on
a shared box, another Unix user) may look, as a viewer.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets

from flask import (
    Flask,
    Request,
    Response,
    abort,
    current_app,
    g,
    jsonify,
    redirect,
    request,
    session,
    url_for,
)
from flask.globals import request_ctx
from flask.sessions import SessionMixin

from ..core.access.sessions import SessionStoreError
from ..core.access.users import LOCAL_USER, User
from ..slow_clients import RECEIVED
from . import htmx
from .services import EXTENSION
from .token_link import OPERATOR_PROOF, TOKEN_PARAMETER, exchange_token, proof, token_holder

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
TOKENLESS_FORMS = {"jobs.sync"}  # forms in shared, cached fragments: same-origin fetch metadata vouches
OPEN_ENDPOINTS = {"static", "auth.signin", "auth.signin_form", "ops.healthz", "ops.readyz", "openapi.openapi"}
# checks its own readers (signed-in users, the metrics token, or anyone with --metrics-public)
OPEN_ENDPOINTS.add("metrics.metrics")
ANONYMOUS = User("anonymous", "viewer")
WITHOUT_TOKEN = "open the link envboard printed at start to act"

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


def _check_host() -> None:
    """A Host the app does not trust is a 400 that says which it does, before anything builds a URL.

    Flask leaves such a request without a URL adapter, so the sign-in redirect (or any url_for)
    would fail with a 500 on every path, /healthz and /static included.
    """
    if request_ctx.url_adapter is not None:
        return
    trusted = ", ".join(current_app.config.get("TRUSTED_HOSTS") or []) or "none"
    host = request.environ.get("HTTP_HOST", "")
    abort(
        400,
        description=f"Host {host[:200]!r} is not trusted here (trusted: {trusted}). If people reach "
        "envboard by this name, start it with --public-url http://NAME:PORT (ENVBOARD_PUBLIC_URL).",
    )


def identify(
    app: Flask, incoming: Request, cookie_session: SessionMixin, endpoint: str | None
) -> tuple[User | None, bool]:
    """Who sent `incoming` (None: nobody the app knows) and whether they named themselves with a
    bearer token. The one place a request's user is decided: the Flask hook below and the front
    (web/front.py) both ask it, with the request, its cookie session and the endpoint it goes to.
    A wrong bearer token is refused here (abort: 401, or 429 while its sender is slowed down), and
    single-user mode's printed link is exchanged for a session here (abort: a redirect).
    """
    users = app.config.get("ENVBOARD_USERS")
    if users is None:
        return _single_user(app, incoming, cookie_session, endpoint)
    user = None
    bearer = _bearer_token(incoming)
    header = app.config.get("ENVBOARD_PROXY_USER_HEADER")
    if header and bearer is None and incoming.headers.get(header) and _from_trusted_proxy(app, incoming):
        user = users.get(incoming.headers[header])
    if user is None and bearer and endpoint == "metrics.metrics" and _is_scraper_token(app, bearer):
        return None, False  # the scraper's token reads /metrics only and names no user
    if user is None and bearer:
        return _bearer_user(app, incoming, users.authenticate, bearer), True
    if user is None and cookie_session.get("sid"):
        user = _session_user(app, users, cookie_session, incoming.environ.get(RECEIVED))
    if user is None and app.config.get("ENVBOARD_ALLOW_ANONYMOUS_VIEW"):
        user = ANONYMOUS
    return user, False


def _identify() -> None:
    g.user, g.bearer = identify(current_app, request, session, request.endpoint)
    if g.user is None and request.endpoint not in OPEN_ENDPOINTS:
        if request.path.startswith("/api/"):
            response = jsonify({"error": "unauthorized", "message": "sign in or send Authorization: Bearer"})
            response.status_code = 401
            response.headers["WWW-Authenticate"] = "Bearer"
            abort(response)
        if htmx.is_htmx():
            # a poll or button of a page whose session ended: the page itself goes to sign in,
            # and comes back to where it was afterwards
            signin = url_for("auth.signin_form", next=htmx.current_page())
            abort(htmx.redirect(Response(status=401), signin))
        abort(
            redirect(
                url_for(
                    "auth.signin_form",
                    next=request.full_path.rstrip("?") if request.method == "GET" else None,
                )
            )
        )


def _bearer_token(incoming: Request) -> str | None:
    authorization = incoming.authorization
    return authorization.token if authorization is not None and authorization.type == "bearer" else None


def _single_user(
    app: Flask, incoming: Request, cookie_session: SessionMixin, endpoint: str | None
) -> tuple[User | None, bool]:
    """The operator holds the printed token (a session from its link, or a bearer); others look."""
    bearer = _bearer_token(incoming)
    if bearer is not None:
        if endpoint == "metrics.metrics" and _is_scraper_token(app, bearer):
            return ANONYMOUS, False
        return _bearer_user(app, incoming, lambda token: token_holder(app, token), bearer), True
    given = incoming.args.get(TOKEN_PARAMETER)
    # the printed link opens pages; the JSON API answers what it declares (a script sends a bearer)
    if given is not None and incoming.method in SAFE_METHODS and not incoming.path.startswith("/api/"):
        exchange_token(app, incoming, cookie_session, given)
    proven = cookie_session.get(OPERATOR_PROOF)
    if isinstance(proven, str) and hmac.compare_digest(proven, proof(app.config["ENVBOARD_TOKEN"])):
        return LOCAL_USER, False
    return ANONYMOUS, False


def _from_trusted_proxy(app: Flask, incoming: Request) -> bool:
    """The user header counts only on connections from a configured proxy address."""
    trusted = app.config.get("ENVBOARD_TRUSTED_PROXIES") or ()
    try:
        peer = ipaddress.ip_address(incoming.remote_addr or "")
    except ValueError:
        return False
    return any(peer in network for network in trusted)


def _bearer_user(app: Flask, incoming: Request, authenticate, token: str) -> User:
    """The token's user; a wrong token is answered 401 (429 while its sender is slowed down)."""
    limiter = app.extensions[EXTENSION].signin_limiter
    wait = limiter.blocked_for(incoming.remote_addr, token)
    if wait > 0:
        response = jsonify({"error": "too many requests", "message": "too many wrong tokens from here"})
        response.status_code = 429
        response.headers["Retry-After"] = str(int(wait) + 1)
        abort(response)
    user = authenticate(token)
    if user is None:
        limiter.fail(incoming.remote_addr, token)
        response = jsonify({"error": "unauthorized", "message": "that bearer token is not valid"})
        response.status_code = 401
        response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
        abort(response)
    limiter.succeed(token)
    return user


def _session_user(app: Flask, users, cookie_session: SessionMixin, arrived: int | None) -> User | None:
    """The user of a live server-side session; an ended, expired or replaced one clears the cookie.
    `arrived`: when the server had the request whole (time.monotonic_ns()); a look at the users
    file or the sessions database begun since then is as good as one of this request's own."""
    name = cookie_session.get("user", "")
    known, digest = users.get_with_digest(name, arrived)
    try:
        info = app.extensions[EXTENSION].sessions.check(cookie_session["sid"], digest, arrived)
    except SessionStoreError:
        info = None  # the sign-in page says why; pages must not break over it
    user = known if info is not None and info.user == name else None
    if user is None:
        cookie_session.clear()
    return user


def _check_csrf() -> None:
    if request.method in SAFE_METHODS:
        return
    if g.get("bearer"):
        return  # a bearer token is not sent by browsers on their own, so no page can ride on it
    fetched_from = request.headers.get("Sec-Fetch-Site")
    if fetched_from in ("cross-site", "same-site"):
        abort(403, description="cross-site request refused")
    expected = session.get(CSRF_FIELD)
    given = request.headers.get(CSRF_HEADER) or request.form.get(CSRF_FIELD)
    if not given and fetched_from == "same-origin" and request.endpoint in TOKENLESS_FORMS:
        # the overview row's Sync form, posted without JavaScript (rows are shared and hold no
        # token): the browser says it comes from this origin in a header no page can set
        return
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
        if current_app.config.get("ENVBOARD_USERS") is None:
            abort(
                403,
                description=f"Not allowed without the token: {WITHOUT_TOKEN}, or send "
                "Authorization: Bearer TOKEN",
            )
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


def is_scraper_token(token: str | None) -> bool:
    """Whether `token` is the --metrics-token (it reads /metrics only and names no user)."""
    return _is_scraper_token(current_app, token)


def _is_scraper_token(app: Flask, token: str | None) -> bool:
    expected = app.config.get("ENVBOARD_METRICS_TOKEN")
    return bool(expected and token and hmac.compare_digest(token.encode(), expected.encode()))


def permission_problem() -> str | None:
    """Why the current user may not act, for disabled buttons; None when they may."""
    user = g.get("user")
    if user is None or not user.can_operate:
        if current_app.config.get("ENVBOARD_USERS") is None:
            return WITHOUT_TOKEN
        name = user.name if user else "anonymous"
        return f"{name} is a viewer; ask an operator"
    return None


def init_app(app: Flask) -> None:
    if not app.config.get("ENVBOARD_TOKEN"):  # nobody was told one: nobody acts in single-user mode
        app.config["ENVBOARD_TOKEN"] = secrets.token_urlsafe(32)
    app.before_request(_check_host)
    app.before_request(_identify)
    app.before_request(_check_csrf)
    app.before_request(_check_role)
    app.after_request(_headers)
    app.jinja_env.globals["csrf_token"] = csrf_token
    app.jinja_env.globals["permission_problem"] = permission_problem
