"""/metrics: what a Prometheus scraping several boxes reads, parsed with prometheus_client's own parser."""

from __future__ import annotations

import re

from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import core, wait_for, write_project, write_workspace
from webapp.core.access.users import UserDirectory, add_user


def scrape(client, **headers) -> dict[str, list]:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    families = text_string_to_metric_families(response.get_data(as_text=True))
    return {family.name: family.samples for family in families}


def value(samples: list, name: str, **labels) -> float | None:
    for sample in samples:
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
            return sample.value
    return None


def workspace(tmp_path, wheelhouse):
    root = write_workspace(tmp_path / "ws", ["uvp", "act"])
    write_project(
        root / "uvp",
        "uvp",
        mode="persistent_uv",
        dependencies=("dagster", "acme-plugin"),
        wheelhouse=wheelhouse,
    )
    write_project(root / "act", "act")
    return root


def test_projects_jobs_probes_and_requests_are_scraped(tmp_path, wheelhouse, make_app):
    app = make_app(workspace(tmp_path, wheelhouse))
    client = app.test_client()
    monitor = core(app).monitor

    def first_look_done():
        monitor.refresh()  # a whole pass, its watches included, is over when this returns
        return monitor.watching and not any(state.pending for state in monitor.snapshot.states)

    # the probe the first look started has reported, and the folders it depends on are watched
    wait_for(first_look_done, timeout=60)
    metrics = scrape(client)
    assert value(
        metrics["envboard_project_info"], "envboard_project_info", project="uvp", mode="persistent_uv"
    )
    assert value(metrics["envboard_project_info"], "envboard_project_info", project="act", mode="active")
    assert value(metrics["envboard_project_drift"], "envboard_project_drift", project="uvp") == 0
    assert value(metrics["envboard_projects"], "envboard_projects") == 2
    assert value(metrics["envboard_monitor_watching"], "envboard_monitor_watching") == 1
    assert value(metrics["envboard_monitor_full_pass_seconds"], "envboard_monitor_full_pass_seconds") > 0

    csrf = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/").get_data(as_text=True)).group(1)
    job_id = (
        client.post("/projects/uvp/sync", headers={"X-CSRF-Token": csrf})
        .headers["Location"]
        .rsplit("/", 1)[1]
    )
    wait_for(lambda: client.get(f"/api/jobs/{job_id}").get_json()["status"] == "succeeded", timeout=120)
    job = client.get(f"/api/jobs/{job_id}").get_json()

    def synced_and_probed():
        core(app).monitor.refresh()
        state = core(app).monitor.snapshot.get("uvp")
        return state.status_name == "in_sync" and state.plugins is not None and not state.pending

    wait_for(synced_and_probed, timeout=120)
    plugins = core(app).monitor.snapshot.get("uvp").plugins
    metrics = scrape(client)
    status = metrics["envboard_project_status"]
    assert value(status, "envboard_project_status", project="uvp", status="in_sync") == 1
    assert value(status, "envboard_project_status", project="uvp", status="out_of_sync") is None
    assert value(status, "envboard_project_status", project="act", status="unmanaged") == 1
    components = value(metrics["envboard_project_components"], "envboard_project_components", project="uvp")
    assert components == len(plugins.components) > 0  # acme-plugin registers component types
    assert value(
        metrics["envboard_project_registry_modules"], "envboard_project_registry_modules", project="uvp"
    ) == len(plugins.registry_modules)
    assert (
        value(metrics["envboard_project_plugin_errors"], "envboard_project_plugin_errors", project="uvp") == 0
    )
    last = value(
        metrics["envboard_project_last_successful_sync_timestamp_seconds"],
        "envboard_project_last_successful_sync_timestamp_seconds",
        project="uvp",
    )
    assert last == job["ended_at"]
    assert value(metrics["envboard_jobs"], "envboard_jobs_total", action="sync", outcome="succeeded") == 1
    duration = metrics["envboard_job_duration_seconds"]
    assert value(duration, "envboard_job_duration_seconds_count", action="sync") == 1
    assert value(duration, "envboard_job_duration_seconds_sum", action="sync") > 0
    assert value(metrics["envboard_probes"], "envboard_probes_total", outcome="ok") >= 1
    assert value(metrics["envboard_probe_duration_seconds"], "envboard_probe_duration_seconds_count") >= 1
    requests = metrics["envboard_request_duration_seconds"]
    assert (
        value(requests, "envboard_request_duration_seconds_count", endpoint="overview.index", method="GET")
        >= 1
    )
    assert (
        value(requests, "envboard_request_duration_seconds_count", endpoint="jobs.sync", method="POST") == 1
    )


def test_the_last_successful_sync_survives_a_restart(tmp_path, wheelhouse, make_app):
    root = workspace(tmp_path, wheelhouse)
    app = make_app(root)
    client = app.test_client()
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/").get_data(as_text=True)).group(1)
    job_id = (
        client.post("/projects/uvp/sync", headers={"X-CSRF-Token": csrf})
        .headers["Location"]
        .rsplit("/", 1)[1]
    )
    wait_for(lambda: client.get(f"/api/jobs/{job_id}").get_json()["status"] == "succeeded", timeout=120)
    ended = client.get(f"/api/jobs/{job_id}").get_json()["ended_at"]
    core(app).close()
    again = make_app(root, state_dir=tmp_path / "state").test_client()
    metrics = scrape(again)
    assert value(metrics["envboard_jobs"], "envboard_jobs_total", action="sync", outcome="succeeded") == 0
    name = "envboard_project_last_successful_sync_timestamp_seconds"
    assert value(metrics[name], name, project="uvp") == ended


def test_who_may_read_the_metrics(tmp_path, wheelhouse, make_app):
    root = workspace(tmp_path, wheelhouse)
    path = tmp_path / "users.toml"
    viewer = add_user(path, "victor", "viewer")
    app = make_app(root, ENVBOARD_USERS=UserDirectory(path), ENVBOARD_METRICS_TOKEN="scrape-secret")
    client = app.test_client()
    refused = client.get("/metrics")
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"] == "Bearer"
    assert b"envboard_project" not in refused.data
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    scrape(client, Authorization="Bearer scrape-secret")
    scrape(client, Authorization=f"Bearer {viewer}")  # any signed-in user, a viewer included
    public = make_app(
        root, state_dir=tmp_path / "state2", ENVBOARD_USERS=UserDirectory(path), ENVBOARD_METRICS_PUBLIC=True
    )
    scrape(public.test_client())
    assert public.test_client().get("/api/projects").status_code == 401  # only /metrics became public


def test_the_readme_example_parses_and_matches_a_real_scrape(tmp_path, wheelhouse, make_app):
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    example = readme.split("<!-- metrics-example -->\n```text\n", 1)[1].split("```", 1)[0]
    documented = {family.name: family for family in text_string_to_metric_families(example)}
    assert "envboard_project_status" in documented and "envboard_jobs" in documented
    client = make_app(workspace(tmp_path, wheelhouse)).test_client()
    client.get("/")  # a request to time
    response = client.get("/metrics")
    real = {f.name: f for f in text_string_to_metric_families(response.get_data(as_text=True))}
    for name, family in documented.items():
        assert name in real, f"README documents {name}, which a scrape does not have"
        assert real[name].type == family.type and real[name].documentation == family.documentation
        labels = {key for sample in family.samples for key in sample.labels}
        real_labels = {key for sample in real[name].samples for key in sample.labels}
        assert not real[name].samples or labels == real_labels, name


def test_drift_is_counted_per_project(tmp_path, wheelhouse, make_app, uv_bin):
    """A package installed by hand: uv would remove it, and the scrape says one package drifted."""
    from tests.conftest import uv

    root = workspace(tmp_path, wheelhouse)
    uv(uv_bin, "sync", cwd=root / "uvp")
    extra = next(wheelhouse.glob("extra_plugin-*.whl"))
    uv(
        uv_bin,
        "pip",
        "install",
        "--python",
        str(root / "uvp" / ".venv" / "bin" / "python"),
        str(extra),
        cwd=root,
    )
    app = make_app(root)
    client = app.test_client()
    wait_for(
        lambda: client.get("/api/projects/uvp").get_json()["environment"]["status"] == "out_of_sync",
        timeout=60,
    )
    metrics = scrape(client)
    assert value(metrics["envboard_project_drift"], "envboard_project_drift", project="uvp") == 1
    assert value(metrics["envboard_project_drift"], "envboard_project_drift", project="act") == 0
