"""The dashboard in a real browser: Playwright driving Debian's chromium against `envboard serve`."""

import re

import pytest
from playwright.sync_api import expect

from tests.conftest import signed_in, uv, write_project, write_slow_project, write_workspace

pytestmark = pytest.mark.browser


@pytest.fixture
def busy_workspace(tmp_path, wheelhouse, uv_bin):
    root = write_workspace(
        tmp_path / "ws", ["projects/alpha", "projects/beta", "projects/gamma", "projects/bad"]
    )
    alpha = write_project(
        root / "projects" / "alpha",
        "alpha",
        mode="persistent_uv",
        dependencies=("dagster", "acme-plugin", "broken-plugin"),
        wheelhouse=wheelhouse,
    )
    uv(uv_bin, "sync", cwd=alpha)
    write_project(root / "projects" / "beta", "beta")
    write_project(root / "projects" / "gamma", "gamma", mode="persistent_uv")
    (root / "projects" / "bad").mkdir()
    (root / "projects" / "bad" / "pyproject.toml").write_text(
        '[tool.dg]\ndirectory_type = "project"\n[tool.dg.project]\npython_environment = "conda"\n'
    )
    return root


def test_overview_fills_in_lazily_and_filters(busy_workspace, live_server, page, tmp_path):
    url = live_server(busy_workspace)
    page.goto(signed_in(url + "/"))
    rows = page.locator("tr.project-row")
    expect(rows).to_have_count(4)
    alpha = page.locator("#project-projects-alpha")
    # the first paint did not wait for the probe; htmx fills the row in when it finishes
    expect(alpha.locator(".plugins-cell")).to_contain_text("3 modules / 2 components", timeout=60_000)
    expect(alpha.locator(".badge.status-in_sync")).to_be_visible()
    expect(page.locator("#project-projects-gamma")).to_contain_text("missing")
    expect(page.locator("#project-projects-bad")).to_contain_text("not a known mode")
    page.screenshot(path=str(tmp_path / "overview.png"), full_page=True)
    page.fill("#filter-q", "gam")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("gamma")
    page.fill("#filter-q", "")
    page.select_option("select[name=mode]", "active")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("beta")
    # the filter lives in the address: a reload (or a shared link) shows the same rows
    expect(page).to_have_url(re.compile(r"/\?mode=active$"))
    page.reload()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("beta")
    expect(page.locator("select[name=mode]")).to_have_value("active")
    page.fill("#filter-q", "bet")
    expect(page).to_have_url(re.compile(r"/\?q=bet&mode=active$"))
    assert page.console_errors == []


def test_project_page_shows_plugins_and_an_import_error(busy_workspace, live_server, page):
    url = live_server(busy_workspace)
    page.goto(signed_in(url + "/projects/projects-alpha"))
    plugins = page.locator("#plugins")
    expect(plugins).to_contain_text("acme_plugin.WidgetComponent", timeout=60_000)
    expect(plugins).to_contain_text("Builds widgets.")
    error = plugins.locator(".plugin-errors details")
    expect(error).to_contain_text("broken_plugin")
    expect(error).to_contain_text("RuntimeError: broken plugin cannot be imported")
    traceback = error.locator("pre")
    expect(traceback).to_be_hidden()
    error.locator("summary").click()
    expect(traceback).to_contain_text("Traceback (most recent call last)")
    expect(page.locator("#environment")).to_contain_text("persistent_uv")
    expect(page.locator("#environment")).to_contain_text(" run --no-sync python ")
    expect(page.locator("#environment")).to_contain_text(" sync --color always")
    # active projects cannot be synced, and the page says why
    page.goto(url + "/projects/projects-beta")
    expect(page.locator("#sync-button")).to_be_disabled()
    expect(page.locator("#sync-blocked")).to_contain_text("does not manage the active environment")
    assert page.console_errors == []


def test_a_click_on_sync_shows_log_lines_while_the_job_runs(tmp_path, live_server, page):
    project = write_slow_project(tmp_path / "slow")
    release = tmp_path / "release-the-build"
    url = live_server(project, env={"SLOW_BUILD_RELEASE": str(release), "UV_NO_CACHE": "1"})
    page.goto(signed_in(url + "/projects/slow"))
    page.click("#sync-button")
    status = page.locator(".job-status .badge").first
    log = page.locator("#log")
    expect(log).to_contain_text("Building", timeout=30_000)
    expect(status).to_have_attribute("data-job-status", "running")  # the build waits for the test
    release.touch()
    expect(status).to_have_attribute("data-job-status", "succeeded", timeout=60_000)
    expect(log).to_contain_text("Installed")
    # the rest of the page follows without a reload: the environment now exists and is in sync
    expect(page.locator("#environment .badge.status-in_sync")).to_be_visible(timeout=15_000)
    expect(page.locator("#plugins")).to_contain_text("Registry modules", timeout=15_000)
    page.goto(url + "/history")
    expect(page.locator("table.history")).to_contain_text("succeeded")
    expect(page.locator("table.history .who-cell").first).to_have_text("local")
    assert page.console_errors == []


def test_sign_in_viewer_sees_disabled_sync_operator_syncs_and_is_named(tmp_path, live_server, browser):
    from webapp.core.access.users import add_user

    users = tmp_path / "users.toml"
    alice = add_user(users, "alice", "operator")
    victor = add_user(users, "victor", "viewer")
    project = write_project(tmp_path / "proj", "proj", mode="persistent_uv")
    url = live_server(project, "--users", str(users))

    def sign_in(token):
        context = browser.new_context()
        page = context.new_page()
        page.goto(url + "/projects/proj")
        expect(page).to_have_url(url + "/signin?next=/projects/proj")
        page.fill("#token", token)
        page.click("#signin-button")
        expect(page).to_have_url(url + "/projects/proj")
        return context, page

    context, page = sign_in(victor)
    expect(page.locator("#current-user")).to_contain_text("victor")
    expect(page.locator("#sync-button")).to_be_disabled()
    expect(page.locator("#sync-blocked")).to_contain_text("victor is a viewer")
    context.close()

    context = browser.new_context()
    page = context.new_page()
    page.goto(url + "/signin")
    page.fill("#token", "wrong")
    page.click("#signin-button")
    expect(page.locator("#signin-error")).to_contain_text("not valid")
    context.close()

    context, page = sign_in(alice)
    page.click("#sync-button")
    expect(page.locator(".job-status .badge").first).to_have_attribute(
        "data-job-status", "succeeded", timeout=60_000
    )
    page.goto(url + "/history")
    expect(page.locator("table.history .who-cell").first).to_have_text("alice")
    context.close()


def test_a_change_made_outside_envboard_shows_within_5_seconds(
    tmp_path, wheelhouse, uv_bin, live_server, page
):
    import time

    from tests.conftest import add_dependency

    project = write_project(
        tmp_path / "p", "p", mode="persistent_uv", dependencies=("dagster",), wheelhouse=wheelhouse
    )
    uv(uv_bin, "sync", cwd=project)
    url = live_server(project)
    page.goto(signed_in(url + "/"))
    row = page.locator("#project-p")
    expect(row.locator(".badge.status-in_sync")).to_be_visible(timeout=30_000)
    add_dependency(project, "acme-plugin", next(wheelhouse.glob("acme_plugin-*.whl")))  # as `uv add` would
    changed = time.monotonic()
    expect(row.locator(".badge.status-out_of_sync")).to_be_visible(timeout=10_000)
    assert time.monotonic() - changed < 5


def test_a_refused_sync_says_why_on_the_page(tmp_path, live_server, page):
    project = write_project(tmp_path / "p", "p", mode="persistent_uv")
    url = live_server(project, "--uv", str(tmp_path / "no-uv"))
    page.goto(signed_in(url + "/projects/p"))
    expect(page.locator("#sync-blocked")).to_contain_text("uv not found at")
    expect(page.locator("#sync-button")).to_be_disabled()


def test_a_sync_from_the_overview_works_without_javascript(tmp_path, live_server, browser):
    """Rows are shared by every viewer and hold no CSRF token; the plain form must still post."""
    project = write_project(tmp_path / "proj", "proj", mode="persistent_uv")
    url = live_server(project)
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(signed_in(url + "/"))
    page.locator("#project-proj button.sync").click()
    expect(page).to_have_url(re.compile(r".*/jobs/[^/]+$"))
    expect(page.locator("h1")).to_contain_text("Sync of proj")
    context.close()
