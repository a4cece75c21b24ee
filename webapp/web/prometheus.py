"""What /metrics reports: the registry, the per-scrape collector of the workspace as the
monitor last saw it, and the counters and histograms fed as jobs, probes and requests end."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily
from prometheus_client.registry import Collector

from ..core.app import Envboard
from ..core.jobs.history import CANCELLED, FAILED, INTERRUPTED, SUCCEEDED, JobRecord
from ..core.pages.activity import Activity
from ..core.probe.answer import PluginList

JOB_BUCKETS = (1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)
PROBE_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120)
REQUEST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)


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
        loads = GaugeMetricFamily(
            "envboard_project_loads",
            "1 when the project's definitions load (dg check defs passed), 0 when they do not; "
            "absent while not checked or not applicable.",
            labels=["project"],
        )
        definitions = GaugeMetricFamily(
            "envboard_project_definitions",
            "Definitions of a project that loads, by kind (dg list defs --json).",
            labels=["project", "kind"],
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
            check = state.check
            if check is not None and check.loads is not None:
                loads.add_metric([pid], 1 if check.loads else 0)
                for kind, count in (check.definitions or {}).items():
                    if count is not None:  # a kind the era's listing does not list
                        definitions.add_metric([pid, kind], count)
        yield from (info, status, modules, components, errors, probe_failed, drift, dagster, last_sync)
        yield from (loads, definitions)
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
        # each (endpoint, method)'s series, looked up once: labels() checks and locks per call
        self._request_series: dict[tuple[str, str], Any] = {}
        for action in ("sync", "mode"):  # at 0 from the start, so rate() and increase() see the first one
            for outcome in (SUCCEEDED, FAILED, CANCELLED, INTERRUPTED):
                self.jobs.labels(action, outcome)
        self.activity.job_listeners.append(self._job_ended)
        self.activity.probe_listeners.append(self._probed)

    def request_series(self, endpoint: str, method: str):
        """The requests histogram's series of one endpoint and method (from a fixed set of each)."""
        series = self._request_series.get((endpoint, method))
        if series is None:
            series = self._request_series[(endpoint, method)] = self.requests.labels(endpoint, method)
        return series

    def _job_ended(self, record: JobRecord) -> None:
        self.jobs.labels(record.action, record.status).inc()
        if record.duration is not None:
            self.job_duration.labels(record.action).observe(record.duration)

    def _probed(self, plugins: PluginList) -> None:
        self.probes.labels("failed" if plugins.failure else "ok").inc()
        if plugins.duration is not None:
            self.probe_duration.observe(plugins.duration)
