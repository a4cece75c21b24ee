"""/metrics in Prometheus's text format: the workspace as the monitor last saw it, jobs, probes, requests.

A team that runs one envboard per box points its Prometheus at each box's /metrics; the
fleet view and the alerts live there. Per-project figures are built at scrape time from
the monitor's published snapshot and the in-memory job activity (no file I/O per scrape);
counters and histograms are fed as jobs, probes and requests end.

Who may read it: anyone signed in (viewers included), a scraper sending
`Authorization: Bearer <--metrics-token>`, or anyone at all with `--metrics-public`.
"""

from __future__ import annotations

import hmac
import time

from flask import Blueprint, Flask, Response, current_app, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily
from prometheus_client.registry import Collector

from ..core.app import Envboard
from ..core.jobs.history import CANCELLED, FAILED, INTERRUPTED, SUCCEEDED, JobRecord
from ..core.live.activity import Activity
from ..core.probe.runner import PluginList
from .services import EXTENSION as SERVICES
from .services import services

blueprint = Blueprint("metrics", __name__)

JOB_BUCKETS = (1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)
PROBE_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120)
REQUEST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
# labels come from a fixed set: a client choosing the method (or a path that routes nowhere)
# must not add series, or one client can make every scrape as large as it likes
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})


class WorkspaceCollector(Collector):
    """Gauges read from the last snapshot at each scrape."""

    def __init__(self, envboard: Envboard, activity: Activity) -> None:
        self.envboard = envboard
        self.activity = activity

    def collect(self):
        snapshot = self.envboard.monitor.snapshot
        info = GaugeMetricFamily(
            "envboard_project_info",
            "One series per project: its name, folder and mode.",
            labels=["project", "name", "path", "mode"],
        )
        status = GaugeMetricFamily(
            "envboard_project_status",
            "1 for the project's current environment status (in_sync, out_of_sync, missing, unknown, "
            "unmanaged, error, checking).",
            labels=["project", "status"],
        )
        modules = GaugeMetricFamily(
            "envboard_project_registry_modules", "Registry modules the probe found.", labels=["project"]
        )
        components = GaugeMetricFamily(
            "envboard_project_components", "Component types the probe found.", labels=["project"]
        )
        errors = GaugeMetricFamily(
            "envboard_project_plugin_errors", "Plugins that failed to load.", labels=["project"]
        )
        probe_failed = GaugeMetricFamily(
            "envboard_project_probe_failed",
            "1 when the plugin probe itself could not run.",
            labels=["project"],
        )
        drift = GaugeMetricFamily(
            "envboard_project_drift",
            "Differences between the environment and what is declared.",
            labels=["project"],
        )
        dagster = InfoMetricFamily(
            "envboard_project_dagster", "The Dagster version the probe saw.", labels=["project"]
        )
        last_sync = GaugeMetricFamily(
            "envboard_project_last_successful_sync_timestamp_seconds",
            "When the project's last sync succeeded (Unix time).",
            labels=["project"],
        )
        synced = self.activity.last_successful_sync()
        for state in snapshot.states:
            project = state.project
            pid = project.id
            mode = project.mode.mode if project.mode else ""
            info.add_metric([pid, project.name, project.rel_path, mode], 1)
            status.add_metric([pid, state.status_name], 1)
            plugins = state.plugins
            if plugins is not None and not plugins.failure:
                modules.add_metric([pid], len(plugins.registry_modules))
                components.add_metric([pid], len(plugins.components))
                errors.add_metric([pid], len(plugins.errors))
            if plugins is not None:
                probe_failed.add_metric([pid], 1 if plugins.failure else 0)
                if plugins.dagster_version:
                    dagster.add_metric([pid], {"version": plugins.dagster_version})
            drift.add_metric([pid], len(state.status.drift) if state.status else 0)
            if pid in synced:
                last_sync.add_metric([pid], synced[pid])
        yield from (info, status, modules, components, errors, probe_failed, drift, dagster, last_sync)
        yield GaugeMetricFamily("envboard_projects", "Projects in the workspace.", value=len(snapshot.states))
        monitor = self.envboard.monitor
        yield CounterMetricFamily(
            "envboard_monitor_passes", "Monitor passes that looked at anything.", value=monitor.passes
        )
        if monitor.last_full_pass_seconds is not None:
            yield GaugeMetricFamily(
                "envboard_monitor_full_pass_seconds",
                "How long the last pass over every project took.",
                value=monitor.last_full_pass_seconds,
            )
        yield GaugeMetricFamily(
            "envboard_monitor_watching",
            "1 when file-system events tell the monitor what changed; 0 when it re-reads every pass.",
            value=1 if monitor.watching else 0,
        )
        if snapshot.refreshed_at is not None:
            yield GaugeMetricFamily(
                "envboard_snapshot_timestamp_seconds",
                "When the monitor last published what it saw (Unix time).",
                value=snapshot.refreshed_at,
            )


class Metrics:
    def __init__(self, envboard: Envboard) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.activity = Activity(envboard)
        self.registry.register(WorkspaceCollector(envboard, self.activity))
        self.jobs = Counter(
            "envboard_jobs",
            "Jobs that ended, by action and outcome.",
            ["action", "outcome"],
            registry=self.registry,
        )
        self.job_duration = Histogram(
            "envboard_job_duration_seconds",
            "How long jobs ran, by action.",
            ["action"],
            buckets=JOB_BUCKETS,
            registry=self.registry,
        )
        self.probes = Counter(
            "envboard_probes", "Plugin probes run, by outcome.", ["outcome"], registry=self.registry
        )
        self.probe_duration = Histogram(
            "envboard_probe_duration_seconds",
            "How long a plugin probe took.",
            buckets=PROBE_BUCKETS,
            registry=self.registry,
        )
        self.requests = Histogram(
            "envboard_request_duration_seconds",
            "Time to answer a request, by route and method.",
            ["endpoint", "method"],
            buckets=REQUEST_BUCKETS,
            registry=self.registry,
        )
        for action in ("sync", "mode"):  # at 0 from the start, so rate() and increase() see the first one
            for outcome in (SUCCEEDED, FAILED, CANCELLED, INTERRUPTED):
                self.jobs.labels(action, outcome)
        self.activity.job_listeners.append(self._job_ended)
        self.activity.probe_listeners.append(self._probed)

    def _job_ended(self, record: JobRecord) -> None:
        self.jobs.labels(record.action, record.status).inc()
        if record.duration is not None:
            self.job_duration.labels(record.action).observe(record.duration)

    def _probed(self, plugins: PluginList) -> None:
        self.probes.labels("failed" if plugins.failure else "ok").inc()
        if plugins.duration is not None:
            self.probe_duration.observe(plugins.duration)


def _metrics() -> Metrics:
    return services().metrics


def is_scraper_token(token: str | None) -> bool:
    """Whether `token` is the --metrics-token (it reads /metrics only and names no user)."""
    expected = current_app.config.get("ENVBOARD_METRICS_TOKEN")
    return bool(expected and token and hmac.compare_digest(token.encode(), expected.encode()))


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
            method = request.method if request.method in KNOWN_METHODS else "other"
            endpoint = request.endpoint if request.url_rule is not None else "none"
            _metrics().requests.labels(endpoint or "none", method).observe(time.perf_counter() - started)
        return response
