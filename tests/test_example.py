"""The bundled example, as the README's first command leaves it: real Dagster from PyPI.

README command 1 syncs `pipelines` (dagster and dagster-dg-cli 1.13.27 and a local
component) and `widgets`; the overview then lists their component types, the project
page their summaries, and the sync's job page what it installed.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.conftest import signed_in
from tests.dagster_projects import registry_env
from tests.shared_bytecode import share_bytecode

pytestmark = [pytest.mark.dagster, pytest.mark.browser]

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "workspace"


@pytest.fixture(scope="module")
def example(tmp_path_factory, bytecode_donors) -> Path:
    """A copy of examples/workspace as committed (no environments), synced by README command 1,
    with the sync's state dir beside it. Synced once: the tests only read it (each server and
    the screenshot script keep their own state dir)."""
    base = tmp_path_factory.mktemp("example")
    copy = base / "workspace"
    shutil.copytree(EXAMPLE, copy, ignore=shutil.ignore_patterns(".venv", "__pycache__", "*.egg-info"))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "webapp",
            "sync",
            "--workspace",
            str(copy),
            "pipelines",
            "widgets",
            "--state-dir",
            str(base / "state"),
        ],
        cwd=REPO,
        # envboard from the checkout: no bytecode written into it (dg's goes into the copy's environments)
        env={**registry_env(), "PYTHONPATH": str(REPO), "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr
    assert "dagster==1.13.27" in result.stdout and "\x1b" not in result.stdout
    for venv in sorted(copy.glob("projects/*/.venv")):
        share_bytecode(venv, bytecode_donors)
    return copy


def test_the_example_shows_component_types(example, live_server, page, tmp_path):
    shutil.copytree(example.parent / "state", tmp_path / "state")  # the server's: it has the sync's job
    url = live_server(example)
    page.goto(signed_in(url + "/"))
    pipelines = page.locator("#project-projects-pipelines")
    expect(pipelines.locator(".plugins-cell")).to_contain_text(" components", timeout=120_000)
    expect(pipelines.locator(".badge.status-in_sync")).to_be_visible(timeout=60_000)
    expect(page.locator("#project-projects-widgets .plugins-cell")).to_contain_text(
        "1 module", timeout=60_000
    )

    page.goto(url + "/projects/projects-pipelines")
    plugins = page.locator("#plugins")
    expect(plugins).to_contain_text("pipelines.components.nightly_export.NightlyExport", timeout=60_000)
    expect(plugins).to_contain_text("Exports a table to a CSV file every night.")
    expect(plugins).to_contain_text("dagster.DefinitionsComponent")

    # the first sync's job page lists what it brought
    page.goto(url + "/history?project=projects-pipelines")
    page.locator("table.history tbody a[href^='/jobs/']").first.click()
    diff = page.locator(".plugin-diff")
    expect(diff).to_contain_text("+ component pipelines.components.nightly_export.NightlyExport")
    expect(diff).to_contain_text("+ module dagster")
    assert page.console_errors == []


def test_the_hero_screenshot_script_pictures_the_example(example, tmp_path):
    overview, versions = tmp_path / "pictures" / "overview.png", tmp_path / "pictures" / "versions.png"
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "examples" / "screenshot.py"),
            "--workspace",
            str(example),
            "--out",
            str(overview),
            "--versions-out",
            str(versions),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    for picture in (overview, versions):
        assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", picture
