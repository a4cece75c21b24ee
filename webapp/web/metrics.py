"""/metrics in Prometheus's text format: the workspace as the monitor last saw it, jobs, probes, requests.

A team that runs one envboard per box points its Prometheus at each box's /metrics; the
fleet view and the alerts live there. Per-project figures are built at scrape time from
the monitor's published snapshot and the in-memory job activity (no file I/O per scrape);
counters and histograms are fed as jobs, probes and requests end.

Who may read it: anyone signed in (viewers included), a scraper sending
`Authorization: Bearer <--metrics-token>`, or anyone at all with `--metrics-public`.
"""

from __future__ import annotations

import time

from flask import Blueprint, Flask, Response, current_app, g, request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from .prometheus import Metrics
from .security import is_scraper_token
from .services import EXTENSION as SERVICES
from .services import services

blueprint = Blueprint("metrics", __name__)

# labels come from a fixed set: a client choosing the method (or a path that routes nowhere)
# must not add series, or one client can make every scrape as large as it likes
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})


def _metrics() -> Metrics:
    return services().metrics


def _may_read() -> bool:
    if current_app.config.get("ENVBOARD_METRICS_PUBLIC"):
        return True
    authorization = request.authorization
    if authorization is not None and authorization.type == "bearer" and is_scraper_token(authorization.token):
        return True
    return g.get("user") is not None  # signed in (a viewer is enough), or single-user mode


@blueprint.get("/metrics")
def metrics():
    if not _may_read():
        response = Response("sign in, or send Authorization: Bearer with the metrics token\n", 401)
        response.headers["WWW-Authenticate"] = "Bearer"
        response.mimetype = "text/plain"
        return response
    return Response(generate_latest(_metrics().registry), headers={"Content-Type": CONTENT_TYPE_LATEST})


def init_app(app: Flask) -> None:
    """Requests are timed from access_log's clock, which starts before the security hooks, so
    refused requests are timed too."""
    app.extensions[SERVICES].metrics = Metrics(app.extensions[SERVICES].core)

    @app.after_request
    def _observe(response):
        started = g.get("request_started")
        if started is not None:
            endpoint = request.endpoint if request.url_rule is not None else "none"
            observe_request(_metrics(), endpoint or "none", request.method, started)
        return response


def observe_request(metrics: Metrics, endpoint: str, method: str, started: float) -> None:
    """One request's time in the requests histogram (Flask's hook above and the front both count)."""
    method = method if method in KNOWN_METHODS else "other"
    metrics.request_series(endpoint, method).observe(time.perf_counter() - started)
