"""A team's every day in a real browser against a real `envboard serve`: Sync all on a new box,
and the History that follows the jobs it started."""

import re

import pytest
from playwright.sync_api import expect

from tests.conftest import (
    add_dependency,
    build_wheel,
    signed_in,
    write_project,
    write_slow_project,
    write_workspace,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_sync_all_on_a_new_box_creates_the_missing_environments_and_history_follows_them(
    tmp_path, live_server, page
):
    root = write_workspace(tmp_path / "ws", ["quick", "slow", "act"])
    write_project(root / "quick", "quick", mode="persistent_uv")
    write_slow_project(root / "slow")
    write_project(root / "act", "act")  # active: envboard does not sync it
    release = tmp_path / "release"
    url = live_server(root, env={"SLOW_BUILD_RELEASE": str(release), "SLOW_BUILD_SECONDS": "120"})
    page.goto(signed_in(url + "/"))
    expect(page.locator("#project-quick .badge.status-missing")).to_be_visible(timeout=30_000)
    expect(page.locator("#project-slow .badge.status-missing")).to_be_visible(timeout=30_000)
    page.click("#sync-all")
    # a live view of just the jobs it started
    page.wait_for_url("**/history?jobs=*")
    expect(page.locator("#flashes")).to_have_text("Sync of quick and slowpkg started")
    rows = page.locator("#history-rows tr")
    expect(rows).to_have_count(2)
    slow_status = page.locator("#history-rows tr", has_text="slowpkg").locator(".badge")
    quick_status = page.locator("#history-rows tr", has_text="quick").locator(".badge")
    expect(slow_status).to_have_text("running", timeout=60_000)  # without a reload
    expect(quick_status).to_have_text("succeeded", timeout=60_000)
    release.touch()
    expect(slow_status).to_have_text("succeeded", timeout=60_000)
    assert page.console_errors == []


def test_the_message_that_a_sync_started_follows_the_job_to_its_end(tmp_path, live_server, page):
    root = write_workspace(tmp_path / "ws", ["slow"])
    write_slow_project(root / "slow")
    release = tmp_path / "release"
    url = live_server(root, env={"SLOW_BUILD_RELEASE": str(release), "SLOW_BUILD_SECONDS": "120"})
    page.goto(signed_in(url + "/projects/slow"))
    page.click("#sync-button")
    flash = page.locator("#flashes .flash")
    expect(flash).to_have_text("Sync of slowpkg started")
    # a build that prints nothing for a long while still shows that it is working, and for how long
    started = page.locator(".job-started time")
    expect(started).to_have_text(re.compile(r"^\d+ s ago$"))
    expect(started).not_to_have_text(started.text_content())  # it counts on
    expect(page.get_by_role("log", name="Output of the sync of slow")).to_be_visible()  # a named log region
    release.touch()
    expect(flash).to_have_text("Sync of slowpkg succeeded", timeout=60_000)  # no reload
    expect(flash).to_have_class("info-box flash")
    page.goto(url + "/projects/slow")
    expect(page.locator("#flashes .flash")).to_have_count(0)  # said once
    assert page.console_errors == []


def test_a_viewers_disabled_buttons_all_look_disabled(tmp_path, live_server, page):
    from webapp.core.access.users import add_user

    users = tmp_path / "users.toml"
    token = add_user(users, "victor", "viewer")
    write_project(tmp_path / "proj", "proj", mode="persistent_uv")
    url = live_server(tmp_path / "proj", "--users", str(users))
    page.goto(url + "/projects/proj")
    page.fill("#token", token)
    page.click("#signin-button")
    sync, switch = page.locator("#sync-button"), page.locator("#switch-mode")
    expect(switch).to_have_attribute("aria-disabled", "true")

    def background(locator) -> str:
        return locator.evaluate("element => getComputedStyle(element).backgroundColor")

    assert background(switch) == background(sync)  # greyed alike, not one white and one grey


def test_a_first_sync_counts_its_packages_and_keeps_the_log_in_view(tmp_path, live_server, page):
    project = write_project(tmp_path / "big", "big", mode="persistent_uv")
    for n in range(30):
        add_dependency(
            project, f"tiny{n}", build_wheel(tmp_path / "wheels", f"tiny{n}", "1.0", {f"tiny{n}.py": ""})
        )
    url = live_server(project)
    page.goto(signed_in(url + "/projects/big"))
    page.click("#sync-button")
    expect(page.locator("#flashes .flash")).to_have_text("Sync of big succeeded", timeout=60_000)
    page.click("text=Permanent link")
    expect(page.locator("#package-diff summary")).to_have_text("Package changes: +30 added")
    expect(page.locator("#package-diff li").first).to_be_hidden()  # behind the summary, one click away
    log_top = page.locator("#log").bounding_box()["y"]
    assert log_top < page.viewport_size["height"], log_top  # the log starts on the first screen
    page.click("#package-diff summary")
    expect(page.locator("#package-diff li")).to_have_count(30)
