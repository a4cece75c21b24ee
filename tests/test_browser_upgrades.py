"""The Upgrades page in a real browser, against `envboard serve` over real uv projects on a local index."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.conftest import signed_in
from tests.test_upgrades import files, index, locked, three  # noqa: F401 - fixtures used here

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_outdated_plan_review_and_apply_in_the_browser(three, index, live_server, page):  # noqa: F811
    url = live_server(three)
    beta_before = files(three, "beta")
    # the overview counts what the background check found, and links to the Upgrades page; the
    # projects are checked one by one, so under load the count may first cover only some of them
    count = page.locator("#outdated-count")
    for _ in range(120):
        page.goto(signed_in(url + "/"))
        if count.count() and "in 3 projects" in count.inner_text():
            break
        page.wait_for_timeout(500)
    expect(count).to_have_text("6 outdated packages in 3 projects")
    page.goto(url + "/projects/alpha/packages")
    expect(page.locator('tr[data-package="fixpkg"] td.latest')).to_have_text("2.0")
    page.goto(url + "/upgrades")
    expect(page.locator('section[data-project="gamma"] tr[data-package="fixpkg"] td').nth(1)).to_have_text(
        "2.0"
    )
    page.fill("#plan-name", "fixpkg")
    page.click("#plan-form button[type=submit]:not(#plan-family)")
    expect(page.locator("h1")).to_have_text("Upgrade fixpkg to 2.0")
    gamma = page.locator('fieldset[data-project="gamma"]')
    expect(gamma).to_contain_text("fixpkg<2")
    expect(gamma).to_contain_text("fixpkg>=2.0")
    expect(page.locator('fieldset[data-project="alpha"] table')).to_contain_text("1.0")
    assert files(three, "beta") == beta_before  # planning wrote nothing
    page.locator('fieldset[data-project="beta"] input[name=approve]').uncheck()  # the team skips beta
    page.click("#apply-form button[type=submit]")
    expect(page.locator("h1")).to_have_text("History")
    expect(page.locator("#flashes")).to_contain_text("Upgrade of alpha and gamma started")
    for _ in range(240):
        if locked(three, "alpha", "fixpkg") == "2.0" and locked(three, "gamma", "fixpkg") == "2.0":
            break
        page.wait_for_timeout(250)
    assert locked(three, "alpha", "fixpkg") == "2.0" and locked(three, "gamma", "fixpkg") == "2.0"
    assert files(three, "beta") == beta_before  # skipped: untouched
    undo = page.get_by_role("button", name="Roll back to before this job")
    for _ in range(240):  # the jobs go on to sync and verify: each ended one offers its undo
        page.goto(url + "/history")
        if undo.count() == 2:
            break
        page.wait_for_timeout(250)
    expect(undo).to_have_count(2)
    expect(page.locator(".badge.status-succeeded")).to_have_count(2)
