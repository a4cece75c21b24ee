"""The fleet files in examples/prometheus/, checked by Prometheus's own tools, and a real Prometheus
that scrapes two envboard servers."""

import json
import shutil
import subprocess
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import free_port, wait_for, write_project, write_workspace

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "prometheus"
PROMTOOL = shutil.which("promtool")
PROMETHEUS = shutil.which("prometheus")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool is not installed (Debian package prometheus; .ci/run installs it)"
)


def promtool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([PROMTOOL, *args], cwd=EXAMPLES, capture_output=True, text=True, timeout=120)


@needs_promtool
def test_the_scrape_config_is_valid():
    # the token file named in it lives on the Prometheus server, not here: syntax, not files
    result = promtool("check", "config", "--syntax-only", "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def alert_names() -> list[str]:
    rules = (EXAMPLES / "envboard-alerts.yml").read_text()
    return [
        line.split(":", 1)[1].strip() for line in rules.splitlines() if line.strip().startswith("- alert:")
    ]


def test_the_alert_rules_are_valid():
    result = promtool("check", "rules", "envboard-alerts.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alert_names())} rules found" in result.stdout


@needs_promtool
def test_each_alert_fires_on_its_series_and_not_on_the_others():
    result = promtool("test", "rules", "envboard-alerts-test.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    tests = (EXAMPLES / "envboard-alerts-test.yml").read_text()
    rules = (EXAMPLES / "envboard-alerts.yml").read_text()
    alerts = [
        line.split(":", 1)[1].strip() for line in rules.splitlines() if line.strip().startswith("- alert:")
    ]
    for alert in alerts:  # every alert is tested both ways
        assert f"alertname: {alert}\n        exp_alerts: []" in tests, alert
        assert tests.count(f"alertname: {alert}\n") >= 2, alert


def query(prometheus: str, expr: str) -> dict:
    url = f"{prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def ready(prometheus: str, process: subprocess.Popen) -> bool:
    assert process.poll() is None, "prometheus exited"
    try:
        with urllib.request.urlopen(f"{prometheus}/-/ready", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.mark.slow
@pytest.mark.skipif(PROMETHEUS is None, reason="prometheus is not installed (Debian package prometheus)")
def test_a_real_prometheus_scrapes_two_envboards_with_the_example_rules_and_dashboard(tmp_path, live_server):
    token = "scrape-me-please-0123456789"
    boxes = []
    for box in ("one", "two"):
        root = write_workspace(tmp_path / box, ["sales"])
        write_project(root / "sales", "sales")
        boxes.append(
            live_server(
                root, "--state-dir", str(tmp_path / f"state-{box}"), env={"ENVBOARD_METRICS_TOKEN": token}
            )
        )
    targets = [url.removeprefix("http://") for url in boxes]
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        f"rule_files:\n  - {EXAMPLES / 'envboard-alerts.yml'}\n"
        "scrape_configs:\n  - job_name: envboard\n"
        f"    authorization:\n      type: Bearer\n      credentials: {token}\n"
        f"    static_configs:\n      - targets: {json.dumps(targets)}\n"
    )
    port = free_port()
    log = open(tmp_path / "prometheus.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    prometheus = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: ready(prometheus, process), timeout=60, interval=0.2)
        answer = wait_for(
            lambda: len((found := query(prometheus, "envboard_projects"))["data"]["result"]) == 2 and found,
            timeout=60,
            interval=0.5,
        )
        assert {series["metric"]["instance"] for series in answer["data"]["result"]} == set(targets)
        assert {series["value"][1] for series in answer["data"]["result"]} == {"1"}
        with urllib.request.urlopen(f"{prometheus}/api/v1/rules", timeout=10) as response:
            rules = json.load(response)["data"]["groups"][0]["rules"]
        assert len(rules) == len(alert_names()) and {rule["health"] for rule in rules} <= {"ok", "unknown"}
        dashboard = json.loads((EXAMPLES / "grafana-dashboard.json").read_text())
        for panel in dashboard["panels"]:
            for target in panel["targets"]:
                assert query(prometheus, target["expr"])["status"] == "success", target["expr"]
                if "envboard_project_info" in target["expr"]:  # a count per box: a box with none shows 0
                    found = query(prometheus, target["expr"])["data"]["result"]
                    assert {s["metric"]["instance"] for s in found} == set(targets), target["expr"]
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()
