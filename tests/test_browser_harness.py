"""The tests' chromium is launched as conftest says: Playwright's own settings kept, and the
address bar's preloaded pages, which no test uses, left out."""

import re

import pytest

from tests.conftest import TESTS_DISABLE

pytestmark = pytest.mark.browser


def test_the_tests_switch_keeps_every_feature_playwright_turns_off(page):
    # chrome://version shows the command line as given: Playwright's switch, then the tests'
    page.goto("chrome://version")
    command_line = page.locator("#command_line").text_content()
    switches = [set(names.split(",")) for names in re.findall(r"--disable-features=(\S+)", command_line)]
    assert len(switches) >= 2, command_line
    *earlier, heeded = switches  # chromium heeds the last one
    missing = set().union(*earlier) - heeded
    assert missing == set(), f"add {sorted(missing)} to PLAYWRIGHT_DISABLES in tests/conftest.py"
    assert set(TESTS_DISABLE) <= heeded


def test_a_new_context_opens_no_address_bar_pages(browser, page):
    page.goto("data:text/html,<p>one page</p>")
    session = browser.new_browser_cdp_session()
    try:
        targets = session.send("Target.getTargets")["targetInfos"]
    finally:
        session.detach()
    assert [target["url"] for target in targets if "top-chrome" in target["url"]] == []
    assert "data:text/html,<p>one page</p>" in [target["url"] for target in targets]
