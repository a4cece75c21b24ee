"""The Versions and Packages pages in a real browser, against `envboard serve` over real uv projects."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.conftest import install_by_hand, signed_in
from tests.test_versions import skewed_workspace

pytestmark = pytest.mark.browser


def background(locator) -> str:
    return locator.evaluate("element => getComputedStyle(element).backgroundColor")


def wait_for_versions(page, url: str) -> None:
    """The monitor fills the matrix as probes answer; reload until both uv projects have."""
    beta = page.locator('tr[data-package="dagster"] td[data-project="projects-beta"]')
    alpha = page.locator('tr[data-package="dagster"] td[data-project="projects-alpha"]')
    for _ in range(120):
        page.goto(url)
        found = [cell.get_attribute("data-version") if cell.count() else None for cell in (alpha, beta)]
        if found == ["0.0.1", "0.0.2"]:
            return
        page.wait_for_timeout(500)
    raise AssertionError(page.content())


def test_versions_page_highlights_skew_and_its_filter_and_toggle_live_in_the_url(
    tmp_path, live_server, browser, wheelhouse, uv_bin
):
    url = live_server(skewed_workspace(tmp_path, wheelhouse, uv_bin))
    context = browser.new_context(java_script_enabled=False)  # a plain GET form: no script needed
    page = context.new_page()
    page.goto(signed_in(url + "/"))
    page.get_by_role("link", name="Versions").click()
    assert page.url == url + "/versions"
    wait_for_versions(page, url + "/versions")

    # opens on the Dagster family and Python; the skewed row and its odd cell stand out
    rows = page.locator("#versions tbody tr")
    expect(rows).to_have_count(2)
    dagster = page.locator('tr[data-package="dagster"]')
    expect(dagster).to_have_attribute("data-skew", "true")
    expect(dagster.locator("th .badge")).to_have_text("skew")
    python = page.locator('tr[data-package="python"]')
    expect(python).to_have_attribute("data-skew", "false")
    odd = dagster.locator("td.version-odd")
    expect(odd).to_have_count(2)  # one project each: no version is the common one, both stand out
    plain = python.locator('td[data-project="projects-alpha"]')
    assert background(odd.first) != background(plain)
    expect(page.locator('tr[data-package="shared-lib"]')).to_have_count(0)

    # the toggle: every shared package, kept in the URL
    page.check("#versions-all")
    page.get_by_role("button", name="Show").click()
    assert "all=1" in page.url
    expect(page.locator('tr[data-package="shared-lib"]')).to_have_attribute("data-skew", "true")

    # the filter, kept in the URL: a reload or a shared link shows the same rows
    page.fill("#versions-q", "shared")
    page.get_by_role("button", name="Show").click()
    assert re.search(r"[?&]q=shared", page.url) and "all=1" in page.url
    expect(rows).to_have_count(1)
    page.reload()
    expect(page.locator("#versions-q")).to_have_value("shared")
    expect(page.locator("#versions-all")).to_be_checked()
    expect(rows).to_have_count(1)

    # back to the Dagster family: shared-lib is not one of them
    page.uncheck("#versions-all")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#versions-empty")).to_be_visible()
    page.get_by_role("link", name="Look in all shared packages").click()
    expect(page.locator('tr[data-package="shared-lib"]')).to_have_count(1)
    context.close()


def test_packages_page_shows_a_package_installed_by_hand_as_not_in_the_lock(
    tmp_path, live_server, page, wheelhouse, uv_bin
):
    root = skewed_workspace(tmp_path, wheelhouse, uv_bin)
    extra = next(wheelhouse.glob("extra_plugin-*.whl"))
    install_by_hand(uv_bin, root / "projects" / "alpha", str(extra))
    url = live_server(root)
    page.goto(signed_in(url + "/projects/projects-alpha"))
    link = page.locator("#package-count a")
    expect(link).to_have_text(re.compile(r"\d+ installed distributions"), timeout=60_000)
    expect(page.locator("#lock-status")).to_have_attribute("data-lock-status", "up_to_date", timeout=60_000)
    expect(page.locator("#environment .badge.status-out_of_sync")).to_have_text("out of sync: 1 to remove")
    link.click()
    expect(page).to_have_url(url + "/projects/projects-alpha/packages")

    by_hand = page.locator('tr[data-package="extra-plugin"]')
    expect(by_hand).to_have_attribute("data-differs", "true")
    expect(by_hand).to_contain_text("not in the lock")
    locked = page.locator('tr[data-package="acme-plugin"]')
    expect(locked).to_have_attribute("data-differs", "false")
    expect(locked).to_contain_text("direct")
    assert background(by_hand.locator("td").first) != background(locked.locator("td").first)
    expect(page.locator("#packages tr.differs")).to_have_count(1)

    page.fill("#packages-q", "plugin")  # applies as typed
    expect(page).to_have_url(re.compile(r"[?&]q=plugin$"))
    expect(page.locator("#packages tbody th")).to_have_text(["acme-plugin", "extra-plugin"])
    assert page.console_errors == []


def test_versions_and_packages_pages_follow_the_environment_without_a_reload(
    tmp_path, live_server, browser, page, wheelhouse, uv_bin
):
    """Both pages open; shared-lib, then dagster, change in alpha's .venv underneath: the matrix
    and the package list show it in place, the typed filter text and the page itself survive."""
    root = skewed_workspace(tmp_path, wheelhouse, uv_bin)
    alpha = root / "projects" / "alpha"
    url = live_server(root)
    wait_for_versions(page, url + "/versions?all=1")
    packages_context = browser.new_context()  # a page of its own: both stay visible, so both poll
    packages = packages_context.new_page()
    packages.goto(signed_in(url + "/projects/projects-alpha/packages"))
    shared = packages.locator('tr[data-package="shared-lib"]')
    expect(shared).to_have_attribute("data-differs", "false", timeout=30_000)
    expect(packages.locator("#packages-count")).to_contain_text("0 not as the lock pins")
    for opened in (page, packages):
        opened.evaluate("window.notReloaded = true")
    page.fill("#versions-q", "a")  # a filter that keeps dagster and shared-lib: refreshes keep it
    skew = page.locator('tr[data-package="shared-lib"]')
    expect(skew).to_have_attribute("data-skew", "true")

    newer = tmp_path / "wheels-new"
    install_by_hand(uv_bin, alpha, str(next(newer.glob("shared_lib-*.whl"))))
    expect(skew.locator('td[data-project="projects-alpha"]')).to_have_attribute(
        "data-version", "2.0.0", timeout=30_000
    )
    expect(skew).to_have_attribute("data-skew", "false")
    expect(shared).to_have_attribute("data-differs", "true", timeout=30_000)  # uv.lock pins 1.0.0
    expect(shared.locator("td").first).to_have_text("2.0.0")
    expect(packages.locator("#packages-count")).to_contain_text("1 not as the lock pins")

    # the refreshed fragments poll on with their new token: a second change shows too
    install_by_hand(uv_bin, alpha, str(next(newer.glob("dagster-*.whl"))))
    dagster = page.locator('tr[data-package="dagster"]')
    expect(dagster.locator('td[data-project="projects-alpha"]')).to_have_attribute(
        "data-version", "0.0.2", timeout=30_000
    )
    expect(dagster).to_have_attribute("data-skew", "false")
    expect(packages.locator("#packages-count")).to_contain_text("2 not as the lock pins", timeout=30_000)

    expect(page.locator("#versions-q")).to_have_value("a")
    for opened in (page, packages):
        assert opened.evaluate("window.notReloaded") is True
    assert "q=a" in page.url
    assert page.console_errors == []
    packages_context.close()


def test_a_polled_page_whose_session_ends_goes_to_sign_in_and_comes_back(tmp_path, live_server, browser):
    """Not the sign-in form swapped into the matrix: the page itself goes, and returns after."""
    from tests.conftest import write_project
    from webapp.core.access.users import add_user

    users = tmp_path / "users.toml"
    alice = add_user(users, "alice", "operator")
    url = live_server(write_project(tmp_path / "proj", "proj", mode="persistent_uv"), "--users", str(users))
    context = browser.new_context()
    page = context.new_page()
    page.goto(url + "/signin?next=/versions%3Fall%3D1")
    page.fill("#token", alice)
    page.click("#signin-button")
    expect(page).to_have_url(url + "/versions?all=1")
    expect(page.locator("#versions-live")).to_be_visible()
    context.clear_cookies()  # the session ended (expired, revoked, signed out elsewhere)
    expect(page).to_have_url(re.compile(re.escape(url + "/signin?next=")), timeout=15_000)
    page.fill("#token", alice)
    page.click("#signin-button")
    expect(page).to_have_url(url + "/versions?all=1")
    expect(page.locator("#versions-live")).to_be_visible()
    context.close()


def test_a_project_removed_under_open_pages_says_so_and_comes_back(
    tmp_path, live_server, browser, page, wheelhouse, uv_bin
):
    """alpha leaves the workspace's dg.toml while its Packages and project pages are open: the
    Packages page says so in place of its table, a Sync clicked on the project page says why
    nothing happens, and when alpha comes back the Packages page fills in again by itself."""
    root = skewed_workspace(tmp_path, wheelhouse, uv_bin)
    url = live_server(root)
    wait_for_versions(page, url + "/versions")
    page.goto(url + "/projects/projects-alpha/packages")
    expect(page.locator('tr[data-package="shared-lib"]')).to_have_count(1, timeout=30_000)
    project_context = browser.new_context()  # a page of its own: both stay visible, so both poll
    project_page = project_context.new_page()
    project_page.goto(signed_in(url + "/projects/projects-alpha"))  # the operator's: it syncs
    expect(project_page.locator("#action-buttons button", has_text="Sync")).to_be_enabled()

    listing = (root / "dg.toml").read_text()
    (root / "dg.toml").write_text(listing.replace('path = "projects/alpha"', 'path = "projects/nowhere"'))
    gone = page.locator("#packages-live.gone")
    expect(gone).to_contain_text("projects-alpha is no longer in this workspace", timeout=30_000)
    expect(gone.get_by_role("link", name="All projects")).to_have_attribute("href", "/")
    expect(page.locator("[data-live]")).to_have_attribute("data-state", "live")  # still following

    project_page.locator("#action-buttons button", has_text="Sync").click()
    expect(project_page.locator("#flashes .error-box")).to_contain_text(
        "no project with id 'projects-alpha'", timeout=10_000
    )

    (root / "dg.toml").write_text(listing)
    expect(page.locator('tr[data-package="shared-lib"]')).to_have_count(1, timeout=30_000)
    expect(gone).to_have_count(0)
    project_context.close()


def test_the_versions_matrix_fits_a_narrow_window_and_keeps_its_package_names_in_view(
    tmp_path, live_server, browser, wheelhouse, uv_bin
):
    url = live_server(skewed_workspace(tmp_path, wheelhouse, uv_bin))
    context = browser.new_context(viewport={"width": 400, "height": 800})
    narrow = context.new_page()
    wait_for_versions(narrow, url + "/versions?all=1")
    # the page itself never scrolls sideways; the matrix does, inside its own box
    assert narrow.evaluate("document.documentElement.scrollWidth") <= 400
    wrap = narrow.locator(".table-wrap")
    assert wrap.evaluate("element => element.scrollWidth > element.clientWidth")
    name = narrow.locator('tr[data-package="dagster"] th[scope="row"]')
    left = name.bounding_box()["x"]
    # scrolled, and the frame after the scroll event painted: no fixed wait
    wrap.evaluate(
        """element => new Promise(done => {
            element.addEventListener("scroll", () => requestAnimationFrame(() => done()), { once: true });
            element.scrollLeft = element.scrollWidth;
        })"""
    )
    # the package names stay where they were (within a border's width), not hundreds of px away
    assert abs(name.bounding_box()["x"] - left) < 8
    context.close()
