"""Every page's filter behaves as the overview's: it applies as you type or tick, with no button
to press, and the address always holds it (a reload or a shared link shows the same rows).
The plain GET form still works without JavaScript."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.conftest import write_project, write_workspace
from tests.test_browser_versions import wait_for_versions
from tests.test_cli import envboard
from tests.test_versions import skewed_workspace

pytestmark = pytest.mark.browser


def test_versions_and_packages_filter_as_you_type_and_tick_and_keep_it_in_the_address(
    tmp_path, live_server, page, wheelhouse, uv_bin
):
    url = live_server(skewed_workspace(tmp_path, wheelhouse, uv_bin))
    wait_for_versions(page, url + "/versions")
    page.evaluate("window.notReloaded = true")
    rows = page.locator("#versions tbody tr")
    expect(rows).to_have_count(2)  # the Dagster family and Python
    expect(page.get_by_role("button", name="Show")).to_have_count(0)  # nothing to press

    page.check("#versions-all")  # a tick is enough
    expect(page.locator('tr[data-package="shared-lib"]')).to_have_count(1)
    expect(page).to_have_url(re.compile(r"/versions\?all=1$"))
    page.locator("#versions-q").press_sequentially("shar")  # no Enter
    expect(rows).to_have_count(1)
    expect(page).to_have_url(re.compile(r"/versions\?q=shar&all=1$"))
    expect(page.locator("#versions-q")).to_be_focused()  # typing goes on where it was
    page.uncheck("#versions-all")
    expect(page.locator("#versions-empty")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/versions\?q=shar$"))
    assert page.evaluate("window.notReloaded") is True
    page.reload()
    expect(page.locator("#versions-q")).to_have_value("shar")
    expect(page.locator("#versions-empty")).to_be_visible()

    page.goto(url + "/projects/projects-alpha/packages")
    names = page.locator("#packages tbody th")
    expect(names.first).to_be_visible(timeout=30_000)
    expect(page.get_by_role("button", name="Filter")).to_have_count(0)
    page.locator("#packages-q").press_sequentially("plug")
    expect(names).to_have_text(["acme-plugin"])
    expect(page).to_have_url(re.compile(r"/projects/projects-alpha/packages\?q=plug$"))
    page.reload()
    expect(names).to_have_text(["acme-plugin"])
    # the polled part keeps the filter: its own address carries it
    assert "q=plug" in page.locator("#packages-live").get_attribute("hx-get")
    assert page.console_errors == []


def test_versions_filter_still_works_without_javascript(tmp_path, live_server, browser, wheelhouse, uv_bin):
    url = live_server(skewed_workspace(tmp_path, wheelhouse, uv_bin))
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    wait_for_versions(page, url + "/versions")
    page.check("#versions-all")
    page.fill("#versions-q", "shared")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"/versions\?q=shared&all=1$"))
    expect(page.locator("#versions tbody tr")).to_have_count(1)
    context.close()


def history_workspace(tmp_path):
    """Two projects synced from a shell by two people: a history with something to filter."""
    root = write_workspace(tmp_path / "ws", ["one", "two"])
    write_project(root / "one", "one", mode="persistent_uv")
    write_project(root / "two", "two", mode="persistent_uv")
    common = ("--workspace", str(root), "--state-dir", str(tmp_path / "state"))
    for project, who in (("one", "ann"), ("two", "bob")):
        result = envboard("sync", project, "--as", who, *common)
        assert result.returncode == 0, result.stderr
    return root


def test_history_filters_as_you_choose_and_keeps_it_in_the_address(tmp_path, live_server, page):
    url = live_server(history_workspace(tmp_path))
    page.goto(url + "/history")
    rows = page.locator("#history-rows tr")
    expect(rows).to_have_count(2)
    expect(page.get_by_role("button", name="Show")).to_have_count(0)
    expect(page.locator("#history-clear")).to_be_hidden()

    page.select_option("select[name=who]", "bob")  # no button to press
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("bob")
    expect(page).to_have_url(re.compile(r"/history\?who=bob$"))
    expect(page.locator("h1")).to_have_text("History by bob")  # the title says what is shown
    expect(page.locator("#history-clear")).to_be_visible()
    page.select_option("select[name=who]", "")
    page.select_option("select[name=project]", "one")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("ann")
    expect(page).to_have_url(re.compile(r"/history\?project=one$"))
    expect(page.locator("h1")).to_have_text("History of one")
    page.reload()
    expect(rows).to_have_count(1)
    expect(page.locator("select[name=project]")).to_have_value("one")

    # the view of the jobs one Sync all started stays that view when filtered
    ann_job = next(
        job["id"] for job in page.request.get(url + "/api/jobs").json()["jobs"] if job["who"] == "ann"
    )
    page.goto(url + f"/history?jobs={ann_job}")
    page.select_option("select[name=who]", "bob")
    expect(page.locator("#history-rows")).to_contain_text("Nothing yet.")
    expect(page).to_have_url(re.compile(rf"/history\?who=bob&jobs={ann_job}$"))

    # a project's own history: the filter stays on that project's page
    page.goto(url + "/projects/two/history")
    page.select_option("select[name=who]", "ann")
    expect(page.locator("#history-rows")).to_contain_text("Nothing yet.")
    expect(page).to_have_url(re.compile(r"/projects/two/history\?who=ann$"))
    expect(page.locator("h1")).to_have_text("History of two by ann")
    page.locator("#history-clear").click()
    expect(page).to_have_url(re.compile(r"/projects/two/history$"))
    expect(rows).to_have_count(1)
    # on a phone, its ten columns scroll in their box, and a line says how many are off screen
    page.set_viewport_size({"width": 390, "height": 844})
    expect(page.locator("#history-scroll-hint")).to_have_text(re.compile(r"^\d+ more columns →$"))
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert page.console_errors == []
