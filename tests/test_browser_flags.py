"""The overview's row says why a project lists no plugins, where the project's page does: Dagster
missing from its environment, or `registry_modules` patterns that match nothing; a failed load
check stands out as a failure, as a sync's does."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.conftest import uv, write_project, write_workspace

pytestmark = pytest.mark.browser


def test_a_row_flags_a_missing_dagster_and_registry_modules_that_match_nothing(
    tmp_path, live_server, page, wheelhouse, uv_bin
):
    root = write_workspace(tmp_path / "ws", ["bare", "typo", "fine"])
    bare = write_project(root / "bare", "bare", mode="persistent_uv")  # synced, but no dagster in it
    typo = write_project(
        root / "typo",
        "typo",
        mode="persistent_uv",
        dependencies=("dagster", "acme-plugin"),
        wheelhouse=wheelhouse,
        registry_modules=("acme_plugni.*",),  # a typo: matches no module
    )
    fine = write_project(
        root / "fine",
        "fine",
        mode="persistent_uv",
        dependencies=("dagster", "acme-plugin"),
        wheelhouse=wheelhouse,
    )
    for project in (bare, typo, fine):
        uv(uv_bin, "sync", cwd=project)
    url = live_server(root)
    page.goto(url + "/")
    plugins = {name: page.locator(f"#project-{name} .plugins-cell") for name in ("bare", "typo", "fine")}
    for cell in plugins.values():
        expect(cell).to_contain_text("module", timeout=60_000)  # the probe has answered
    expect(plugins["bare"].locator(".plugins-flag")).to_have_text("dagster not installed")
    expect(plugins["typo"].locator(".plugins-flag")).to_have_text(
        "registry_modules: acme_plugni.* matched nothing"
    )
    expect(plugins["fine"].locator(".plugins-flag")).to_have_count(0)
    flag = plugins["bare"].locator(".plugins-flag")
    assert flag.evaluate("e => getComputedStyle(e).color") != plugins["fine"].evaluate(
        "e => getComputedStyle(e).color"
    )  # it stands out from the counts
    assert page.console_errors == []


def test_a_definitions_check_that_fails_looks_like_a_failure_on_the_row(tmp_path, live_server, page):
    """A real failing verdict needs real dg (test_real_load_check.py); here, the badges as a row
    draws them for each verdict."""
    write_project(tmp_path / "proj", "proj", mode="persistent_uv")
    page.goto(live_server(tmp_path / "proj") + "/")
    colours = page.evaluate(
        """() => Object.fromEntries(["check-fails", "status-error", "check-loads", "status-in_sync",
        "check-not_checked"].map(kind => {
          const badge = document.createElement("span");
          badge.className = "badge " + kind;
          document.querySelector("main").append(badge);
          return [kind, getComputedStyle(badge).backgroundColor];
        }))"""
    )
    assert colours["check-fails"] == colours["status-error"]
    assert colours["check-loads"] == colours["status-in_sync"]
    assert colours["check-fails"] != colours["check-not_checked"]
