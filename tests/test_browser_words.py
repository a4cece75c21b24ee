"""The pages say what uv found in envboard's words, with uv's own a tap away; times read
"3 min ago", and their dates and clock times are one tap away for touch and keyboard too."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.conftest import write_project
from tests.test_cli import envboard

pytestmark = pytest.mark.browser

ABSOLUTE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \S+$")


def test_status_lock_changes_and_the_sync_command_read_in_envboards_words(tmp_path, live_server, page):
    project = write_project(tmp_path / "proj", "proj", mode="persistent_uv")
    common = ("--workspace", str(project), "--state-dir", str(tmp_path / "state"))
    for _ in range(2):  # the first creates uv.lock, the second leaves it as it was
        result = envboard("sync", "proj", "--as", "ann", *common, env={"NO_COLOR": "1"})
        assert result.returncode == 0, result.stderr
    url = live_server(project, env={"NO_COLOR": "1"})

    page.goto(url + "/projects/proj")
    status = page.locator("#environment .status-reason")
    expect(status).to_have_text(
        "the environment matches uv.lock: a sync would change nothing", timeout=30_000
    )
    said = page.locator("#environment .uv-said")
    expect(said.locator("code")).to_be_hidden()  # uv's own words, one tap away
    said.locator("summary").click()
    expect(said.locator("code")).to_have_text(re.compile(r"Would make no changes|Resolved|Audited"))
    # NO_COLOR: envboard does not force uv's colours, and does not show that it would
    expect(page.locator("#environment")).to_contain_text("uv sync")
    expect(page.locator("#environment")).not_to_contain_text("--color always")

    page.goto(url + "/history")
    locks = page.locator("#history-rows .lock-cell")
    expect(locks).to_have_count(2)
    expect(locks.nth(0)).to_have_text("unchanged")  # newest first
    expect(locks.nth(1).locator("summary")).to_have_text("created")
    assert not re.search(r"[0-9a-f]{8}", locks.nth(1).inner_text())  # no hashes until asked
    locks.nth(1).locator("summary").click()
    expect(locks.nth(1)).to_contain_text(re.compile(r"sha256 - → [0-9a-f]{12}"))
    assert page.console_errors == []


def test_exact_times_are_one_tap_away_and_the_choice_is_kept(tmp_path, live_server, page):
    project = write_project(tmp_path / "proj", "proj", mode="persistent_uv")
    url = live_server(project)
    page.goto(url + "/")
    moment = page.locator("#project-proj td[data-label='Last change'] time")
    expect(moment).to_have_text(re.compile(r"^\d+ s ago$"))
    toggle = page.get_by_role("button", name="Exact times")
    expect(toggle).to_have_attribute("aria-pressed", "false")
    toggle.focus()
    page.keyboard.press("Enter")  # a keyboard reaches it; a tap does the same
    expect(moment).to_have_text(ABSOLUTE)
    assert moment.text_content() == moment.get_attribute("title")
    expect(toggle).to_have_attribute("aria-pressed", "true")
    page.reload()  # the choice is kept
    expect(moment).to_have_text(ABSOLUTE)
    page.get_by_role("button", name="Exact times").click()
    page.reload()
    expect(moment).to_have_text(re.compile(r"^\d+ s ago$"))
    assert page.console_errors == []
