"""Pages on a phone (390 px wide): nothing scrolls sideways but a table in its own box, and a
table that does says how much of it is off screen."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.conftest import signed_in, uv, write_project, write_workspace
from tests.test_browser_versions import wait_for_versions
from tests.test_versions import skewed_workspace

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
LONG = "quarterly_revenue_reconciliation_pipeline"  # a module name as teams write them


def page_width(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth")


def test_the_mode_preview_and_a_job_with_long_component_names_fit_a_phone(
    tmp_path, live_server, browser, wheelhouse, uv_bin
):
    root = write_workspace(tmp_path / "ws", ["teams/finance/" + LONG, "act"])
    project = write_project(
        root / "teams/finance" / LONG,
        LONG,
        mode="persistent_uv",
        dependencies=("dagster",),
        wheelhouse=wheelhouse,
    )
    uv(uv_bin, "sync", cwd=project)
    # its components come in with the next sync: the job lists them by their long keys
    write_project(
        root / "teams/finance" / LONG,
        LONG,
        mode="persistent_uv",
        dependencies=("dagster",),
        wheelhouse=wheelhouse,
        local_components=True,
    )
    write_project(root / "act", "act")
    url = live_server(root)
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()

    page.goto(url + "/projects/act/mode?to=persistent_uv")
    expect(page.locator("#mode-diff")).to_be_visible()
    assert page_width(page) <= PHONE["width"]

    page.goto(signed_in(url + f"/projects/teams-finance-{LONG.replace('_', '-')}"))
    # the plugins before the sync are listed first: the job compares its own list with them
    expect(page.locator("#plugins .plugin-meta")).to_contain_text("Listed", timeout=60_000)
    expect(page.locator("#plugins .error-box")).to_have_count(0)  # a listing, not a failed probe
    page.click("#sync-button")
    expect(page.locator("#flashes .flash")).to_contain_text("succeeded", timeout=60_000)
    page.click("text=Permanent link")
    expect(page.locator(".plugin-diff li.add", has_text="component").first).to_contain_text(LONG)
    assert page_width(page) <= PHONE["width"]
    context.close()


def test_the_versions_matrix_on_a_phone_says_how_many_columns_are_off_screen(
    tmp_path, live_server, browser, wheelhouse, uv_bin
):
    url = live_server(skewed_workspace(tmp_path, wheelhouse, uv_bin))
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    wait_for_versions(page, url + "/versions?all=1")
    assert page_width(page) <= PHONE["width"]
    wrap = page.locator("#versions-live .table-wrap")
    assert wrap.evaluate("element => element.scrollWidth > element.clientWidth")
    hint = page.locator("#versions-scroll-hint")
    expect(hint).to_have_text(re.compile(r"^\d+ more columns? →"))
    hidden = int(hint.text_content().split()[0])
    columns = page.locator("#versions thead th").count() - 1
    assert 0 < hidden < columns
    wrap.evaluate("element => { element.scrollLeft = element.scrollWidth; }")
    expect(hint).to_have_text(re.compile(r"^← \d+ more columns?"))  # now the other way
    # on a wide screen every column is in view: no hint
    page.set_viewport_size({"width": 1280, "height": 800})
    expect(hint).to_be_hidden()
    context.close()
