"""What a person sees after each action, in a real browser against a real `envboard serve`."""

import re

import pytest
from playwright.sync_api import expect

from tests.conftest import signed_in, uv, write_project, write_slow_project, write_workspace

pytestmark = pytest.mark.browser


def _line_of(path, key: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if line.startswith(key))


def test_a_mode_change_says_what_was_written_and_back_shows_the_file_as_it_is(tmp_path, live_server, page):
    root = write_workspace(tmp_path / "ws", ["ingest"])
    pyproject = write_project(root / "ingest", "ingest") / "pyproject.toml"
    url = live_server(root)
    page.goto(signed_in(url + "/projects/ingest/mode?to=persistent_uv"))
    expect(page.locator("#apply-mode")).to_be_enabled()
    page.uncheck("input[name=sync_after]")
    page.click("#apply-mode")
    expect(page).to_have_url(url + "/projects/ingest")
    line = _line_of(pyproject, "python_environment")
    expect(page.locator("#flashes")).to_have_text(
        f"Mode of ingest written: persistent_uv (pyproject.toml line {line})"
    )
    # the message is said once: the next page does not repeat it
    page.reload()
    expect(page.locator("#flashes")).to_have_text("")
    # Back to the preview shows the file as it is now, not the stale, enabled preview
    page.go_back()
    expect(page).to_have_url(re.compile(r"/projects/ingest/mode\?to=persistent_uv$"))
    expect(page.locator("main")).to_contain_text("The file already says persistent_uv")
    expect(page.locator("#apply-mode")).to_be_disabled()
    assert page.console_errors == []


def test_a_sync_says_it_started_and_disables_sync_everywhere_until_it_ends(tmp_path, live_server, page):
    project = write_slow_project(tmp_path / "slow")
    release = tmp_path / "release-the-build"
    url = live_server(project, env={"SLOW_BUILD_RELEASE": str(release), "UV_NO_CACHE": "1"})
    page.goto(signed_in(url + "/projects/slow"))
    page.click("#sync-button")  # htmx: the answer carries the message out of band
    expect(page.locator("#flashes")).to_have_text("Sync of slowpkg started")
    expect(page.locator("#sync-button")).to_have_accessible_name("Syncing… slowpkg")
    expect(page.locator("#sync-button")).to_be_disabled()
    expect(page.locator(".job-status .badge").first).to_have_attribute(
        "data-job-status", "running", timeout=30_000
    )
    overview = page.context.new_page()
    overview.goto(url + "/")
    row_button = overview.locator("#project-slow button.sync")
    expect(row_button).to_have_accessible_name("Syncing… slowpkg")
    expect(row_button).to_be_disabled()
    # the status says what is happening, not what uv said before the sync
    expect(overview.locator("#project-slow .status-cell .badge")).to_have_text("syncing…")
    release.touch()
    expect(page.locator(".job-status .badge").first).to_have_attribute(
        "data-job-status", "succeeded", timeout=60_000
    )
    # both places give the button back by themselves
    expect(page.locator("#sync-button")).to_have_accessible_name("Sync slowpkg", timeout=15_000)
    expect(page.locator("#sync-button")).to_be_enabled()
    expect(row_button).to_have_accessible_name("Sync slowpkg", timeout=15_000)
    expect(row_button).to_be_enabled()
    assert page.console_errors == []


def test_a_second_sync_says_what_it_is_queued_behind(tmp_path, live_server, page):
    root = write_workspace(tmp_path / "ws", ["widgets", "other"])
    write_slow_project(root / "widgets")
    (root / "widgets" / "pyproject.toml").write_text(
        (root / "widgets" / "pyproject.toml").read_text().replace('name = "slowpkg"', 'name = "widgets"', 1)
    )
    write_project(root / "other", "other", mode="persistent_uv")
    release = tmp_path / "release-the-build"
    url = live_server(root, "--max-jobs", "1", env={"SLOW_BUILD_RELEASE": str(release), "UV_NO_CACHE": "1"})
    page.goto(signed_in(url + "/projects/widgets"))
    page.click("#sync-button")
    expect(page.locator("#flashes")).to_have_text("Sync of widgets started")
    page.goto(url + "/")
    page.click("#project-other button.sync")  # a plain form: the message waits on the job page
    expect(page.locator("#flashes")).to_have_text("Sync of other queued behind widgets")
    release.touch()


def test_sync_all_with_nothing_out_of_sync_says_so(tmp_path, wheelhouse, uv_bin, live_server, page):
    root = write_workspace(tmp_path / "ws", ["alpha", "beta"])
    alpha = write_project(
        root / "alpha", "alpha", mode="persistent_uv", dependencies=("dagster",), wheelhouse=wheelhouse
    )
    uv(uv_bin, "sync", cwd=alpha)
    write_project(root / "beta", "beta")
    url = live_server(root)
    page.goto(signed_in(url + "/"))
    expect(page.locator("#project-alpha .badge.status-in_sync")).to_be_visible(timeout=30_000)
    page.click("#sync-all")
    expect(page).to_have_url(url + "/")
    expect(page.locator("#flashes")).to_have_text("Nothing is out of sync")
    assert page.console_errors == []


def test_a_viewer_who_opens_a_change_url_sees_it_disabled_and_why(tmp_path, live_server, browser):
    from webapp.core.access.users import add_user

    users = tmp_path / "users.toml"
    token = add_user(users, "victor", "viewer")
    project = write_project(tmp_path / "proj", "proj")
    url = live_server(project, "--users", str(users))
    context = browser.new_context()
    page = context.new_page()
    page.goto(url + "/projects/proj/mode?to=persistent_uv")
    page.fill("#token", token)
    page.click("#signin-button")
    expect(page).to_have_url(url + "/projects/proj/mode?to=persistent_uv")
    expect(page.locator("#mode-diff")).to_be_visible()
    expect(page.locator("#apply-mode")).to_be_disabled()
    expect(page.locator("#apply-blocked")).to_have_text(
        "Writing is unavailable: victor is a viewer; ask an operator."
    )
    context.close()


def test_a_broken_config_says_how_to_fix_it_and_the_row_recovers_after_the_fix(tmp_path, live_server, page):
    root = write_workspace(tmp_path / "ws", ["good", "bad"])
    write_project(root / "good", "good")
    bad = write_project(root / "bad", "bad", mode="conda")
    line = _line_of(bad / "pyproject.toml", "python_environment")
    url = live_server(root)
    page.goto(signed_in(url + "/"))
    row = page.locator("#project-bad")
    expect(row.locator(".config-error")).to_have_text(
        f'bad/pyproject.toml:{line}: tool.dg.project.python_environment = "conda" is not a known mode; '
        'use "active" or "persistent_uv"'
    )
    project_page = page.context.new_page()
    project_page.goto(url + "/projects/bad")
    expect(project_page.locator(".error-box")).to_contain_text(f"pyproject.toml:{line}")
    text = (bad / "pyproject.toml").read_text()
    (bad / "pyproject.toml").write_text(text.replace('"conda"', '"active"'))
    # nobody reloads: the overview's row and the project page both recover by themselves
    expect(row.locator(".config-error")).to_have_count(0, timeout=15_000)
    expect(row.locator(".badge.mode-active")).to_be_visible()
    expect(project_page.locator("#environment")).to_contain_text("active", timeout=15_000)
    assert page.console_errors == []
