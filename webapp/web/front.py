"""The two hottest GETs answered in front of Flask: the overview page and its poll's 204.

Every viewer asks for `/` and polls `/fragments/rows?since=` every 2 s. Flask's own work per
request (contexts, URL matching, hooks, the response object) cost more than the bytes of a
100-project page. The front is a WSGI layer (Flask's documented `app.wsgi_app` wrapper)
that answers those two from what Flask answered before for the same key, and hands every
other request (and every first one) to Flask:

- the viewer is identified by `security.identify`, the same function Flask's hook calls,
  from the same cookie session, so a revoked session, a removed user or a changed role
  is seen on the next request; a request with an Authorization header, a session that
  would change (new CSRF token, cleared on sign-out, a flash to show), or no viewer at all
  goes to Flask;
- the key holds everything the answer is made from: the overview's version (snapshot and
  jobs), its outdated count and total, the jobs' availability, the filters (the raw query),
  the viewer (name, role, CSRF token), host, scheme, script root and whether gzip is
  accepted. An answer is kept only when the key was the same before and after Flask made
  it, it set no cookie, and its status is 200 (204 for the poll);
- a kept answer is Flask's own status, headers (security headers, Vary, Content-Encoding)
  and body chunks, so the bytes are the same by construction; the access log and the
  request metrics are written for it as for any other request;
- when a new snapshot is published every viewer's next request misses at once: the first
  asks Flask, and the others with the same key wait for its answer (at most FLIGHT_WAIT)
  instead of rendering the same page beside it, sixteen or sixty-four renders fighting
  for one interpreter.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable, Iterable
from typing import Any, NamedTuple

from flask import Flask
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface, SessionMixin
from itsdangerous import BadSignature
from werkzeug.datastructures import ImmutableMultiDict

from ..core.pages.overview import outdated_count, overview_version, page_facts
from .access_log import log_request
from .encoded import Kept
from .metrics import observe_request
from .security import CSRF_FIELD, TOKEN_PARAMETER, identify
from .services import EXTENSION

WSGIApp = Callable[[dict, Callable], Iterable[bytes]]
ENDPOINTS = {"/": "overview.index", "/fragments/rows": "overview.rows"}
ANSWERS_KEPT = 512  # viewers x filters x encodings; bounded by bytes too (Kept)
COOKIES_KEPT = 4096  # verified session cookies remembered; past that the memory starts afresh
PARSED_KEPT = 4096  # requests' raw query, cookie and Accept-Encoding parsed; past that afresh
# ... and their characters: they are remembered before anyone is identified, and one request's
# headers may be 256 KB (waitress's limit), so a count alone would let a stranger fill a gigabyte
PARSED_CHARS = 4 * 1024 * 1024
FLIGHT_WAIT = 10.0  # seconds a request waits for the same answer another asked Flask for


class Asked(NamedTuple):
    """What the front reads of a request beyond its path, parsed by werkzeug."""

    args: ImmutableMultiDict  # the query (request.args)
    cookie: str | None  # the session cookie's value
    gzip: bool  # whether Accept-Encoding allows gzip


class Front:
    """`app.wsgi_app = Front(app, app.wsgi_app)`: see the module's docstring."""

    def __init__(self, app: Flask, behind: WSGIApp) -> None:
        self.app = app
        self.behind = behind
        self._parsed: dict[tuple[str, str, str], Asked] = {}
        self._parsed_chars = 0  # of the raw strings in _parsed
        self._parsed_lock = threading.Lock()  # taken only to remember a new one
        self.answers: Kept[tuple[str, list[tuple[str, str]], list[bytes]]] = Kept(ANSWERS_KEPT)
        self.served = 0  # answers given without Flask (the tests look)
        self._flights: dict[Hashable, threading.Event] = {}  # keys Flask is answering now
        self._flights_lock = threading.Lock()
        self.waiting = 0  # requests waiting for another's answer (the tests look)
        header = app.config.get("ENVBOARD_PROXY_USER_HEADER")
        self.proxy_header = "HTTP_" + header.upper().replace("-", "_") if header else None

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        endpoint = ENDPOINTS.get(environ.get("PATH_INFO", ""))
        if endpoint is None or environ.get("REQUEST_METHOD") != "GET" or "HTTP_AUTHORIZATION" in environ:
            return self.behind(environ, start_response)
        if self.proxy_header and self.proxy_header in environ:
            return self.behind(environ, start_response)  # a proxy names the user: Flask decides
        started = time.perf_counter()
        asked = self._asked(environ)
        if TOKEN_PARAMETER in asked.args:
            return self.behind(environ, start_response)  # single-user mode's link: Flask exchanges it
        # werkzeug's Request, its query already parsed and no Authorization (above): what identify reads
        request = self.app.request_class(environ)
        request.__dict__["args"] = asked.args
        request.__dict__["authorization"] = None
        session = self._session(request, asked.cookie)
        user, _ = identify(self.app, request, session, endpoint)
        if user is None or session.modified or session.get("_flashes") or not session.get(CSRF_FIELD):
            return self.behind(environ, start_response)  # Flask redirects, sets the cookie or flashes
        key = self._key(endpoint, environ, asked, user, session)
        if key is None:
            return self.behind(environ, start_response)
        kept = self.answers.get(key)
        leader = False
        if kept is None:
            kept, leader = self._after_the_first(key)
        if kept is None:
            try:
                return self._ask_flask(environ, start_response, key, endpoint, asked, user, session)
            finally:
                if leader:
                    self._landed(key)
        status, headers, body = kept
        start_response(status, list(headers))
        self.served += 1
        path = environ["PATH_INFO"]  # one of ENDPOINTS: werkzeug's request.path is the same
        log_request("GET", path, int(status[:3]), started, user, environ.get("REMOTE_ADDR"))
        observe_request(self.app.extensions[EXTENSION].metrics, endpoint, "GET", started)
        return body

    def _asked(self, environ: dict) -> Asked:
        """The query, session cookie and gzip of a request, parsed by werkzeug once per raw header
        strings: a browser sends the same ones with every poll."""
        raw = (
            environ.get("QUERY_STRING", ""),
            environ.get("HTTP_COOKIE", ""),
            environ.get("HTTP_ACCEPT_ENCODING", ""),
        )
        asked = self._parsed.get(raw)
        if asked is None:
            request = self.app.request_class(environ)
            cookie = request.cookies.get(self.app.config["SESSION_COOKIE_NAME"])
            asked = Asked(request.args, cookie, request.accept_encodings["gzip"] > 0)
            size = len(raw[0]) + len(raw[1]) + len(raw[2])
            with self._parsed_lock:
                if len(self._parsed) >= PARSED_KEPT or self._parsed_chars + size > PARSED_CHARS:
                    self._parsed.clear()
                    self._parsed_chars = 0
                if size <= PARSED_CHARS:
                    self._parsed[raw] = asked
                    self._parsed_chars += size
        return asked

    def _session(self, request, cookie: str | None) -> SessionMixin:
        interface = self.app.session_interface
        if isinstance(interface, RememberedCookies):
            return interface.open_cookie(self.app, cookie, request)
        return interface.open_session(self.app, request)

    def _after_the_first(self, key: Hashable) -> tuple[tuple | None, bool]:
        """A new snapshot, and every viewer asks at once: the first asks Flask, the others wait
        for its answer instead of rendering the same page beside it. Returns the kept answer
        (None: ask Flask yourself) and whether this request is the first."""
        with self._flights_lock:
            flight = self._flights.get(key)
            if flight is None:
                self._flights[key] = threading.Event()
                return None, True
            self.waiting += 1
        try:
            flight.wait(FLIGHT_WAIT)
        finally:
            with self._flights_lock:
                self.waiting -= 1
        return self.answers.get(key), False  # None when Flask's answer could not be kept

    def _landed(self, key: Hashable) -> None:
        with self._flights_lock:
            flight = self._flights.pop(key, None)
        if flight is not None:
            flight.set()

    def _key(self, endpoint: str, environ: dict, asked: Asked, user, session) -> Hashable | None:
        """What the answer is made from; None when the front does not answer this one."""
        core = self.app.extensions[EXTENSION].core
        # the raw script name tells apart at least what Flask's script_root does
        where = (environ.get("HTTP_HOST"), environ.get("wsgi.url_scheme"), environ.get("SCRIPT_NAME", ""))
        viewer = (user.name, user.role)
        args = asked.args
        if endpoint == "overview.rows":
            if "force" in args or args.get("since") != overview_version(core):
                return None  # rows to send: Flask works out which
            return ("nothing changed", *where, *viewer)
        # what overview(..., count_outdated=True) would give the page, without building it
        snapshot = core.monitor.snapshot
        version = overview_version(core)
        state = (version, outdated_count(core, snapshot), len(snapshot.states), core.jobs.unavailable)
        state += page_facts(core)  # the workspace's error and the isolation notice: no version counts them
        query = environ.get("QUERY_STRING", "")  # the filters, as Flask reads them from it
        return ("page", query, asked.gzip, *where, *viewer, session[CSRF_FIELD], *state)

    def _ask_flask(self, environ, start_response, key, endpoint, asked, user, session) -> Iterable[bytes]:
        answer: dict[str, Any] = {}

        def keep_start(status: str, headers: list[tuple[str, str]], exc_info=None):
            answer["status"], answer["headers"] = status, list(headers)
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        chunks = self.behind(environ, keep_start)
        try:
            body = list(chunks)
        finally:
            if hasattr(chunks, "close"):
                chunks.close()
        expected = "204" if endpoint == "overview.rows" else "200"
        headers = answer.get("headers", [])
        if (
            answer.get("status", "")[:3] == expected
            and not any(name.lower() == "set-cookie" for name, _ in headers)
            and self._key(endpoint, environ, asked, user, session) == key
        ):
            # the key's raw query weighs too: anyone who may look chooses it, up to 256 KB
            size = sum(len(chunk) for chunk in body) + len(environ.get("QUERY_STRING", ""))
            self.answers.put(key, (answer["status"], headers, body), size)
        return body


class RememberedCookies(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, each cookie's signature checked once, not on every request.

    A browser sends the same cookie with every poll, and checking it (HMAC, base64, JSON)
    cost a tenth of a request. A cookie that passed is remembered with its signing time;
    itsdangerous's age test is applied to it each time, exactly as `loads(max_age=)` does.
    Only cookies of plain values are remembered (a list of flashes would be shared).
    """

    def __init__(self) -> None:
        self._verified: dict[tuple[Any, str], tuple[dict, int]] = {}

    def open_session(self, app: Flask, request) -> SecureCookieSession | None:
        return self.open_cookie(app, request.cookies.get(self.get_cookie_name(app)), request)

    def open_cookie(self, app: Flask, value: str | None, request) -> SecureCookieSession | None:
        """The session of the cookie `value` (the front parsed it from the header already)."""
        if not value or not app.secret_key:
            return super().open_session(app, request)
        max_age = int(app.permanent_session_lifetime.total_seconds())
        found = self._verified.get((app.secret_key, value))
        if found is not None:
            data, signed = found
            if 0 <= int(time.time()) - signed <= max_age:  # itsdangerous's test, on the same numbers
                return self.session_class(data)
        serializer = self.get_signing_serializer(app)
        try:
            data, signed_at = serializer.loads(value, max_age=max_age, return_timestamp=True)
        except BadSignature:
            return self.session_class()
        if isinstance(data, dict) and all(isinstance(v, str | int | bool | None) for v in data.values()):
            if len(self._verified) >= COOKIES_KEPT:
                self._verified.clear()
            self._verified[(app.secret_key, value)] = (data, int(signed_at.timestamp()))
        return self.session_class(data)
