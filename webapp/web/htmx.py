"""The parts of the htmx protocol envboard uses, named (https://htmx.org/reference/)."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from flask import Response, request

STOP_POLLING = 286  # htmx stops an `every` poll when the answer has this status
NOTHING_CHANGED = ("", 204)  # htmx swaps nothing for a 204: the page stays as it is


def is_htmx() -> bool:
    """Whether htmx sent this request (it then wants a fragment, not a page)."""
    return bool(request.headers.get("HX-Request"))


def still_current(version: object) -> bool:
    """Whether the poller's `since=` token is `version`: what it shows is still what it would
    be sent (answer `NOTHING_CHANGED`)."""
    return request.args.get("since") == str(version)


def trigger(response: Response, event: str) -> Response:
    """Ask the page to fire `event` (elements listen with hx-trigger="EVENT from:body")."""
    response.headers["HX-Trigger"] = event
    return response


def refresh(response: Response) -> Response:
    """Ask the page to reload itself whole (when a fragment can no longer tell the story)."""
    response.headers["HX-Refresh"] = "true"
    return response


def replace_url(response: Response, url: str) -> Response:
    """Show `url` in the address bar (no new history entry): the page's state, shareable."""
    response.headers["HX-Replace-Url"] = url
    return response


def asked_by(element_id: str) -> bool:
    """Whether the element `element_id` sent this request (htmx names it in `HX-Trigger`): a
    filter form, whose answer then puts the filter in the address."""
    return request.headers.get("HX-Trigger") == element_id


def redirect(response: Response, url: str) -> Response:
    """Send the whole page to `url`. A 302 would not: the XHR follows it, and htmx swaps the
    page it finds there into the fragment that asked."""
    response.headers["HX-Redirect"] = url
    return response


def current_page() -> str | None:
    """The path and query of the page this htmx request came from, or None."""
    url = request.headers.get("HX-Current-URL")
    if not url:
        return None
    parts = urlsplit(url)
    return urlunsplit(("", "", parts.path, parts.query, "")) or None


def target() -> str | None:
    """The id of the element this htmx request will swap, if it has one."""
    return request.headers.get("HX-Target") or None
