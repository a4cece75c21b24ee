"""Single-user mode's printed link: its token exchanged once for a signed session.

`envboard serve` without a users file prints a link carrying a token (as Jupyter Server
does); the browser that opens it gets a session that proves it, and scripts send the
token as a bearer token. `security.identify` asks this module; nothing else does.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import quote, urlencode

from flask import Flask, Request, abort, flash, redirect
from flask.sessions import SessionMixin

from ..core.access.users import LOCAL_USER, User
from .services import EXTENSION

TOKEN_PARAMETER = "token"  # single-user mode: the printed link carries the token in the query
OPERATOR_PROOF = "operator"  # the session key saying its browser opened the token link


def token_holder(app: Flask, token: str) -> User | None:
    expected = app.config["ENVBOARD_TOKEN"]
    return LOCAL_USER if hmac.compare_digest(token.encode(), expected.encode()) else None


def proof(token: str) -> str:
    """What the session keeps: the cookie is signed but readable, so a digest, not the token.

    A new token (each start makes one unless --token is given) ends the sessions of the old.
    """
    return hashlib.sha256(b"envboard single-user operator\0" + token.encode()).hexdigest()


def exchange_token(app: Flask, incoming: Request, cookie_session: SessionMixin, given: str) -> None:
    """The printed link: a session as the operator, then the same page without the token in its URL
    (so it stays out of the history, bookmarks and Referer), as Jupyter Server does."""
    rest = [(name, value) for name, value in incoming.args.items(multi=True) if name != TOKEN_PARAMETER]
    target = same_page(incoming) + ("?" + urlencode(rest) if rest else "")
    limiter = app.extensions[EXTENSION].signin_limiter
    if limiter.blocked_for(incoming.remote_addr, given) > 0:
        abort(429, description="too many wrong tokens from here; wait a while and open the link again")
    if token_holder(app, given) is None:
        limiter.fail(incoming.remote_addr, given)
        flash(
            "That link's token is not this envboard's (it makes a new one each time it starts): "
            "open the link it printed last.",
            "error",
        )
    else:
        limiter.succeed(given)
        cookie_session.clear()  # a fresh session (and CSRF token) for the operator
        cookie_session.permanent = True
        cookie_session[OPERATOR_PROOF] = proof(given)
    abort(redirect(target, code=303))


def same_page(incoming: Request) -> str:
    """The page's own path, under the prefix envboard is served at, as a path on this host only.

    The path comes decoded from the request: `//evil.example`, `/\\evil.example` or a tab
    before them would make a redirect to another host, and a CR or LF a broken header. So the
    leading slashes and backslashes collapse into one and everything else unsafe is quoted.
    """
    path = quote(incoming.path.lstrip("/\\"), safe="/@!$&'()*+,;=:-._~")
    return incoming.script_root + "/" + path
